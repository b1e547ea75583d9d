"""``rlscale run`` without the CLI: a validated :class:`RunConfig` for one target and the
wiring of the real pieces (Prometheus source, scale actuator, policy or policy-server
client, HPA fallback, guard, metrics, decision log) into a :class:`Controller`.

Tests build controllers through :func:`build_controller`, so they run the same code path as
the command.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlscale.controller.client import PolicyClient, RemotePolicy, validate_http_url
from rlscale.controller.crd import DEFAULT_POD_CAPACITY_RPS, DEFAULT_SLO_BUDGET, DEFAULT_STARTUP_DELAY_S
from rlscale.controller.decision_log import DecisionLog
from rlscale.controller.loop import DEFAULT_REQUIRED_SIGNALS, Controller
from rlscale.controller.policy_loader import ReloadingPolicy
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core.clock import Clock, SystemClock
from rlscale.core.kubernetes_defaults import (
    HPA_DOWNSCALE_STABILIZATION_S,
    HPA_MAX_STABILIZATION_S,
    HPA_SCALE_UP_PERCENT,
    HPA_SCALE_UP_PERIOD_S,
    HPA_SCALE_UP_PODS,
    HPA_SYNC_PERIOD_S,
)
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.safety.guard import Guard, GuardConfig, RateLimits

IN_CLUSTER = "in-cluster"
# RFC 1123 label (namespace) and subdomain (deployment) names, as the API server validates them
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``rlscale run`` needs for one target. :meth:`validate` names the bad flag."""

    namespace: str
    deployment: str
    prometheus_url: str
    min_replicas: int
    max_replicas: int
    policy: str = "hpa"
    interval_s: float = HPA_SYNC_PERIOD_S
    dry_run: bool = False
    kubeconfig: str | None = None  # a path, "in-cluster", or None for the default kubeconfig
    metrics_port: int | None = None  # None: no /metrics; 0: any free port
    metrics_addr: str = "127.0.0.1"
    log_file: str | None = None  # None: stdout
    server_url: str | None = None  # client mode: ask the policy server
    server_token: str | None = None
    server_timeout_s: float = 2.0
    pod_capacity_rps: float = DEFAULT_POD_CAPACITY_RPS
    slo_latency_s: float = 0.5
    slo_budget: float = DEFAULT_SLO_BUDGET
    startup_delay_s: float = DEFAULT_STARTUP_DELAY_S
    stabilization_window_s: float = HPA_DOWNSCALE_STABILIZATION_S
    rate_period_s: float = HPA_SCALE_UP_PERIOD_S
    max_step_up_pods: int | None = HPA_SCALE_UP_PODS
    max_step_up_percent: float | None = float(HPA_SCALE_UP_PERCENT)
    max_step_down_pods: int | None = None
    max_step_down_percent: float | None = None
    fallback_hpa: bool = True
    fallback_policy: str = "hpa"  # the spec of the HPA the guard falls back to (e.g. hpa:target=70)
    required_signals: tuple[str, ...] = DEFAULT_REQUIRED_SIGNALS
    prometheus_timeout_s: float = 2.0
    api_timeout_s: float = 5.0  # one Kubernetes API request
    api_max_attempts: int = 5  # retries on 409 conflicts and transient 5xx, with backoff
    max_decisions: int | None = None
    policy_retry_s: float = 30.0  # how often a policy whose checkpoint failed to load is retried
    #: PromQL overrides per signal and ``window`` (MetricQueries fields; defaults for the usual exporters)
    metric_queries: dict[str, Any] = field(default_factory=dict)
    staleness_s: float = 60.0
    #: a ConfigMap (in ``namespace``) that keeps the downscale window across restarts; None: memory only
    window_configmap: str | None = None

    def validate(self) -> RunConfig:
        problems = []
        if not _DNS_LABEL.match(self.namespace or "") or len(self.namespace) > 63:
            problems.append(f"--namespace {self.namespace!r} is not a valid namespace name (RFC 1123 label)")
        if not _DNS_SUBDOMAIN.match(self.deployment or "") or len(self.deployment) > 253:
            problems.append(
                f"--deployment {self.deployment!r} is not a valid object name (RFC 1123 subdomain)"
            )
        try:
            validate_http_url(self.prometheus_url, "--prometheus URL")
        except ValueError as exc:
            problems.append(str(exc))
        if self.server_url is not None:
            try:
                validate_http_url(self.server_url, "--server URL")
            except ValueError as exc:
                problems.append(str(exc))
        if not (math.isfinite(self.slo_budget) and 0 < self.slo_budget < 1):
            problems.append(f"--slo-budget must be a fraction in (0, 1), e.g. 0.01, got {self.slo_budget}")
        if self.min_replicas < 0:
            problems.append(f"--min must be >= 0, got {self.min_replicas}")
        if self.min_replicas > self.max_replicas:
            problems.append(f"--min ({self.min_replicas}) must be <= --max ({self.max_replicas})")
        for flag, value in (
            ("--interval", self.interval_s),
            ("--pod-capacity-rps", self.pod_capacity_rps),
            ("--slo", self.slo_latency_s),
            ("--prometheus-timeout", self.prometheus_timeout_s),
            ("--server-timeout", self.server_timeout_s),
            ("--api-timeout", self.api_timeout_s),
            ("--staleness", self.staleness_s),
        ):
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{flag} must be a positive number, got {value}")
        if not (math.isfinite(self.startup_delay_s) and self.startup_delay_s >= 0):
            problems.append(f"--startup-delay must be a number >= 0, got {self.startup_delay_s}")
        if not 0 <= self.stabilization_window_s <= HPA_MAX_STABILIZATION_S:
            problems.append(
                f"--stabilization-window must be in [0, {HPA_MAX_STABILIZATION_S:g}] s, "
                f"got {self.stabilization_window_s}"
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            problems.append(f"--metrics-port must be in [0, 65535], got {self.metrics_port}")
        if self.kubeconfig not in (None, IN_CLUSTER) and not Path(self.kubeconfig).is_file():
            problems.append(f"--kubeconfig {self.kubeconfig!r}: no such file (or use 'in-cluster')")
        if self.log_file is not None and not Path(self.log_file).parent.is_dir():
            problems.append(f"--log-file {self.log_file!r}: directory does not exist")
        unknown = set(self.required_signals) - set(ScalingSignals.field_names())
        if unknown:
            problems.append(
                f"--require-signals: unknown {sorted(unknown)}; known: {ScalingSignals.field_names()}"
            )
        try:
            self.rate_limits()
        except ValueError as exc:
            problems.append(f"--max-step-*: {exc}")
        try:
            from rlscale.controller.metrics_source import MetricQueries

            MetricQueries.from_dict(self.metric_queries, "--metric-queries")
        except ValueError as exc:
            problems.append(str(exc))
        if self.window_configmap is not None and (
            not _DNS_SUBDOMAIN.match(self.window_configmap) or len(self.window_configmap) > 253
        ):
            problems.append(
                f"--window-configmap {self.window_configmap!r} is not a valid object name (RFC 1123 subdomain)"
            )
        if self.max_decisions is not None and self.max_decisions < 1:
            problems.append(f"--max-decisions must be >= 1, got {self.max_decisions}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rate_limits(self) -> RateLimits | None:
        limits = (
            self.max_step_up_pods,
            self.max_step_up_percent,
            self.max_step_down_pods,
            self.max_step_down_percent,
        )
        if all(v is None for v in limits):
            return None
        return RateLimits(
            period_s=self.rate_period_s,
            up_pods=self.max_step_up_pods,
            up_percent=self.max_step_up_percent,
            down_pods=self.max_step_down_pods,
            down_percent=self.max_step_down_percent,
        )

    def service_spec(self) -> ServiceSpec:
        return ServiceSpec(
            name=self.deployment,
            pod_capacity_rps=self.pod_capacity_rps,
            slo_latency_s=self.slo_latency_s,
            slo_budget=self.slo_budget,
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            step_s=self.interval_s,
            startup_delay_s=self.startup_delay_s,
        )


def read_metric_queries(path: str | None, window: str | None = None) -> dict[str, Any]:
    """The ``--metric-queries`` JSON file (an object of MetricQueries fields) plus ``--metric-window``."""
    import json

    queries: dict[str, Any] = {}
    if path is not None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"--metric-queries {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"--metric-queries {path}:{exc.lineno}: not JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"--metric-queries {path}: must be a JSON object of signal -> PromQL")
        queries.update(data)
    if window is not None:
        queries["window"] = window
    return queries


def load_policy(
    spec_text: str, service: ServiceSpec, *, reloading: bool = False, retry_s: float = 30.0
) -> Policy:
    """A local policy from a spec string (``hpa``, ``keda:...``, ``learned:PATH``...).

    An unknown policy or bad parameters raise a ValueError naming ``--policy``. With
    ``reloading``, a corrupt or mismatched checkpoint does not: the policy is returned
    unloaded, raises on ``act`` (the guard falls back to the HPA) and is retried every
    ``retry_s`` (see :mod:`rlscale.controller.policy_loader`).
    """
    from rlscale.policies import build_policy, parse_policy_spec

    try:
        parsed = parse_policy_spec(spec_text)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"--policy {spec_text!r}: {exc}") from exc

    def factory() -> Policy:
        return build_policy(parsed, service, 1)

    try:
        if reloading:
            return ReloadingPolicy(factory, service, name=spec_text, retry_s=retry_s)
        return factory()
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"--policy {spec_text!r}: {exc}") from exc


def make_actuator(config: RunConfig) -> Any:
    from rlscale.controller.actuator import ScaleActuator

    kwargs: dict[str, Any] = {
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
        "dry_run": config.dry_run,
        "request_timeout_s": config.api_timeout_s,
        "max_attempts": config.api_max_attempts,
    }
    if config.kubeconfig == IN_CLUSTER:
        return ScaleActuator.from_config(None, in_cluster=True, **kwargs)
    return ScaleActuator.from_config(config.kubeconfig, **kwargs)


def make_source(config: RunConfig) -> Any:
    from rlscale.controller.metrics_source import MetricQueries, PrometheusSource

    return PrometheusSource(
        config.prometheus_url,
        MetricQueries.from_dict(config.metric_queries, "--metric-queries"),
        timeout_s=config.prometheus_timeout_s,
        staleness_s=config.staleness_s,
        slo_latency_s=config.slo_latency_s,
    )


def build_controller(
    config: RunConfig,
    *,
    clock: Clock | None = None,
    source: Any = None,
    actuator: Any = None,
    logger: DecisionLog | None = None,
    metrics: ControllerMetrics | None = None,
) -> Controller:
    """Wire the real pieces for ``config`` (any of them may be passed in instead)."""
    config.validate()
    spec = config.service_spec()
    if config.server_url is not None:
        client = PolicyClient(config.server_url, token=config.server_token, timeout_s=config.server_timeout_s)
        policy: Any = RemotePolicy(client, spec, target=f"{config.namespace}/{config.deployment}")
    else:
        policy = load_policy(config.policy, spec, reloading=True, retry_s=config.policy_retry_s)
    fallback = load_policy(config.fallback_policy, spec) if config.fallback_hpa else None
    guard = Guard(
        GuardConfig(
            min_replicas=config.min_replicas,
            max_replicas=config.max_replicas,
            stabilization_window_s=config.stabilization_window_s,
            rate_limits=config.rate_limits(),
            fallback=config.fallback_hpa,
            dry_run=config.dry_run,
        )
    )
    actuator = actuator if actuator is not None else make_actuator(config)
    return Controller(
        namespace=config.namespace,
        deployment=config.deployment,
        spec=spec,
        source=source if source is not None else make_source(config),
        policy=policy,
        guard=guard,
        actuator=actuator,
        clock=clock if clock is not None else SystemClock(),
        logger=logger if logger is not None else DecisionLog(config.log_file),
        metrics=metrics if metrics is not None else ControllerMetrics(),
        fallback=fallback,
        required_signals=config.required_signals,
        window_store=make_window_store(config, actuator),
    )


def make_window_store(config: RunConfig, actuator: Any) -> Any:
    """The ConfigMap that keeps the downscale window (``--window-configmap``), through the
    actuator's API client; None without the flag or without a Kubernetes client."""
    api = getattr(actuator, "api", None)
    if config.window_configmap is None or api is None or not hasattr(api, "api_client"):
        return None
    from kubernetes import client

    from rlscale.controller.window_store import ConfigMapWindowStore

    target = f"{config.namespace}/{config.deployment}"
    return ConfigMapWindowStore(
        client.CoreV1Api(api.api_client), config.namespace, config.window_configmap, target
    )


def run(config: RunConfig, stop_event: threading.Event | None = None) -> int:
    """Build the controller, serve its metrics, reconcile until stopped; returns decisions made."""
    controller = build_controller(config)
    controller.warm_up()
    if controller.window_store is not None:  # continue the window the last run left
        saved = controller.window_store.load()
        if saved:
            controller.restore_recommendations(saved)
    if config.metrics_port is not None:
        controller.metrics.serve(config.metrics_port, config.metrics_addr)
    try:
        return controller.run_forever(config.interval_s, stop_event, max_decisions=config.max_decisions)
    finally:
        controller.metrics.close()
        if controller.logger is not None:
            controller.logger.close()
