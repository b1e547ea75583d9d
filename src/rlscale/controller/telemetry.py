"""The controller's own Prometheus metrics, on a registry of its own so they never mix with
(or depend on) the process-global default registry, served on a separate port."""

from __future__ import annotations

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


class ControllerMetrics:
    """``rlscale_decisions_total{target}``, ``rlscale_guard_interventions_total{reason}``,
    ``rlscale_decision_latency_seconds``, ``rlscale_errors_total{kind}`` and
    ``rlscale_desired_replicas{target}``."""

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
            "Times a guard step changed or held a proposal, per reason code.",
            ["reason"],
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
        self.desired = Gauge(
            "rlscale_desired_replicas",
            "The replica count last decided, per target.",
            ["target"],
            registry=self.registry,
        )

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
