"""The controller's own Prometheus metrics, on a registry of its own so they never mix with
(or depend on) the process-global default registry, served on a separate port."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

#: Decision latency buckets (seconds): the target is a p99 of 2 ms for a decision and
#: 100 ms for a loopback reconcile (issue 5), so resolve well below and above both.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


#: The weights file of a checkpoint directory (rlscale.nets.checkpoint writes it).
WEIGHTS_FILE = "model.safetensors"


def policy_version(policy: Any) -> str:
    """The first 12 hex digits of the SHA-256 of a learned policy's weights (``builtin`` for
    rule-based policies): which network decides, across restarts and replicas."""
    import hashlib
    from pathlib import Path

    inner = getattr(policy, "inner", None) or policy  # a ReloadingPolicy wraps the loaded one
    path = getattr(inner, "path", None)
    if path is None:
        return "builtin"
    weights = Path(path) / WEIGHTS_FILE if Path(path).is_dir() else Path(path)
    try:
        return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    except OSError:
        return "unreadable"


class ControllerMetrics:
    """The controller's metrics, per target (``namespace/deployment``) where they describe one:

    - ``rlscale_decisions_total``, ``rlscale_decision_latency_seconds``, ``rlscale_errors_total{kind}``;
    - ``rlscale_current_replicas``, ``rlscale_proposed_replicas`` (the policy's own answer) and
      ``rlscale_desired_replicas`` (the guard's final count, as the HPA calls it);
    - ``rlscale_guard_interventions_total{target,reason}``: every reason code on a decision;
    - ``rlscale_signal_value{target,signal}`` and ``rlscale_signal_healthy{target,signal}``
      (0 while Prometheus has it stale, NaN, empty or failing) and ``rlscale_metrics_age_seconds{target}``;
    - ``rlscale_policy_info{target,policy,version}`` = 1 (version: the checkpoint's hash) and
      ``rlscale_slo_objective{target,objective}`` (``latency_seconds``, ``budget``);
    - ``rlscale_leader{identity}``: 1 while this operator replica holds the lease.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            "rlscale_decisions",
            "Decisions made, per target (namespace/deployment).",
            ["target"],
            registry=self.registry,
        )
        self.interventions = Counter(
            "rlscale_guard_interventions",
            "Times a guard step changed or held a proposal (or a failure was recorded), per target and reason code.",
            ["target", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rlscale_decision_latency_seconds",
            "Time from the start of a reconcile to its decision being applied (or not).",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.errors = Counter(
            "rlscale_errors", "Errors survived by the loop, per kind.", ["kind"], registry=self.registry
        )
        self.current = Gauge(
            "rlscale_current_replicas",
            "Replicas on the scale subresource when the last decision was made, per target.",
            ["target"],
            registry=self.registry,
        )
        self.proposed = Gauge(
            "rlscale_proposed_replicas",
            "The policy's own answer before the safety guard, per target.",
            ["target"],
            registry=self.registry,
        )
        self.desired = Gauge(
            "rlscale_desired_replicas",
            "The replica count last decided (after the guard), per target.",
            ["target"],
            registry=self.registry,
        )
        self.signal = Gauge(
            "rlscale_signal_value",
            "The last value of each input signal, per target (NaN when unknown).",
            ["target", "signal"],
            registry=self.registry,
        )
        self.signal_healthy = Gauge(
            "rlscale_signal_healthy",
            "1 while a signal is fresh, 0 while stale, NaN, empty or failing, per target.",
            ["target", "signal"],
            registry=self.registry,
        )
        self.metrics_age = Gauge(
            "rlscale_metrics_age_seconds",
            "Age of the newest sample of the target in Prometheus at the last read (staleness).",
            ["target"],
            registry=self.registry,
        )
        self.policy = Gauge(
            "rlscale_policy_info",
            "1 for the policy that decides for a target: its spec and version (checkpoint hash).",
            ["target", "policy", "version"],
            registry=self.registry,
        )
        self.slo = Gauge(
            "rlscale_slo_objective",
            "The target's SLO: objective=latency_seconds (the threshold) or budget (the fraction allowed over it).",
            ["target", "objective"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "rlscale_leader",
            "1 while this operator replica holds the leader lease, 0 while it follows.",
            ["identity"],
            registry=self.registry,
        )

    def record_decision(
        self,
        target: str,
        decision: Any,
        signals: Mapping[str, float],
        unhealthy: Iterable[str],
        latency_s: float,
    ) -> None:
        """Everything one decision says about its target."""
        self.decisions.labels(target=target).inc()
        self.latency.observe(latency_s)
        for reason in decision.reasons:
            self.interventions.labels(target=target, reason=reason.code).inc()
        for gauge, count in (
            (self.current, decision.current_replicas),
            (self.proposed, decision.proposed_replicas),
            (self.desired, decision.final_replicas),
        ):
            if count >= 0:  # -1: unknown (scale unreadable, no proposal)
                gauge.labels(target=target).set(count)
        bad = set(unhealthy)
        for name, value in signals.items():
            if name == "time_s":
                continue
            self.signal.labels(target=target, signal=name).set(value)
            self.signal_healthy.labels(target=target, signal=name).set(0 if name in bad else 1)

    def record_metrics_age(self, target: str, age_s: float | None) -> None:
        if age_s is not None:
            self.metrics_age.labels(target=target).set(age_s)

    def record_policy(
        self, target: str, policy: str, version: str, slo_latency_s: float, slo_budget: float
    ) -> None:
        """Mark ``policy`` (at ``version``) as the one deciding for ``target``, held to this SLO."""
        self.slo.labels(target=target, objective="latency_seconds").set(slo_latency_s)
        self.slo.labels(target=target, objective="budget").set(slo_budget)
        for labels in list(getattr(self.policy, "_metrics", {})):
            if labels[0] == target and labels[1:] != (policy, version):
                self.policy.remove(*labels)
        self.policy.labels(target=target, policy=policy, version=version).set(1)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` from a daemon thread; returns the bound port (``port=0``: any free one)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
            self._server = None


class ServerMetrics:
    """The policy server's metrics: ``rlscale_server_requests_total{path,code}`` and, per target,
    ``rlscale_proposed_replicas`` (the last answer) and ``rlscale_server_answers_total``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "rlscale_server_requests",
            "HTTP requests answered, per path and status code.",
            ["path", "code"],
            registry=self.registry,
        )
        self.answers = Counter(
            "rlscale_server_answers",
            "Replica counts answered, per target.",
            ["target"],
            registry=self.registry,
        )
        self.proposed = Gauge(
            "rlscale_proposed_replicas",
            "The replica count last answered, per target.",
            ["target"],
            registry=self.registry,
        )

    def record_request(self, path: str, code: int) -> None:
        # unknown paths share one label: a scanner must not grow the series without bound
        known = path if path in KNOWN_SERVER_PATHS else "other"
        self.requests.labels(path=known, code=str(code)).inc()

    def record_answer(self, target: str, desired: int) -> None:
        self.answers.labels(target=target).inc()
        self.proposed.labels(target=target).set(desired)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


KNOWN_SERVER_PATHS = frozenset({"/v1/act", "/v1/log_returns", "/healthz", "/metrics", "/openapi.json"})
