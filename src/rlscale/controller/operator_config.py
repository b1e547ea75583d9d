"""What one operator replica is configured with (``rlscale operator``'s flags) and how one
``RLAutoscaler`` spec becomes the :class:`~rlscale.controller.app.RunConfig` that ``rlscale run``
takes, so the CR and the CLI run one behaviour; errors name the CR's fields, not the flags.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from rlscale.controller.app import IN_CLUSTER, RunConfig
from rlscale.controller.crd import RLAutoscalerSpec, SpecError
from rlscale.controller.operator_lease import DEFAULT_LEASE_DURATION_S, LeaseConfig


def _default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class OperatorConfig:
    """Settings of one operator replica (flags of ``rlscale operator``)."""

    namespace: str = "default"
    kubeconfig: str | None = None  # a path, "in-cluster", or None for the default kubeconfig
    prometheus_url: str | None = None  # default for CRs without spec.metrics.prometheusUrl
    identity: str = field(default_factory=_default_identity)
    lease_name: str = "rlscale-operator"
    lease_duration_s: int = DEFAULT_LEASE_DURATION_S
    #: > 1 only against an emulated cluster running that many times faster than real time
    #: (`rlscale emulate --speedup`): intervals and the controller's clock are scaled with it.
    time_scale: float = 1.0
    log_file: str | None = None  # decision log (JSON lines); None: stdout
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    #: kopf watches CRDs and namespaces to follow cluster changes; off keeps RBAC smaller.
    scanning: bool = True
    release_on_exit: bool = True  # give the lease up on a clean stop (client-go ReleaseOnCancel)

    def validate(self) -> OperatorConfig:
        problems = []
        if not self.namespace:
            problems.append("--namespace must not be empty")
        if self.lease_duration_s < 2:
            problems.append(f"--lease-duration must be >= 2 s, got {self.lease_duration_s}")
        if not 0 < self.time_scale < float("inf"):
            problems.append(f"--time-scale must be a finite number > 0, got {self.time_scale}")
        if self.kubeconfig not in (None, IN_CLUSTER) and not os.path.isfile(self.kubeconfig):
            problems.append(f"--kubeconfig {self.kubeconfig!r}: no such file (or use 'in-cluster')")
        if self.prometheus_url is not None and not self.prometheus_url.startswith(("http://", "https://")):
            problems.append(f"--prometheus must be an http(s) URL, got {self.prometheus_url!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def lease(self) -> LeaseConfig:
        return LeaseConfig.scaled(self.namespace, self.lease_name, self.lease_duration_s)


#: Messages from RunConfig.validate name flags; a CR's user needs the field.
_FLAG_TO_FIELD = {
    "--policy": "spec.policy",
    "--min ": "spec.minReplicas ",
    "--max ": "spec.maxReplicas ",
    "--prometheus URL": "spec.metrics.prometheusUrl",
    "--deployment": "spec.scaleTargetRef.name",
    "--interval": "spec.intervalSeconds",
    "--pod-capacity-rps": "spec.service.podCapacityRps",
    "--slo": "spec.slo.latencySeconds",
    "--max-step-*": "spec.behavior",
    "--stabilization-window": "spec.behavior.scaleDownStabilizationSeconds",
    "--prometheus-timeout": "spec.metrics.timeoutSeconds",
    "--metric-queries": "spec.metrics.queries",
    "--staleness": "spec.metrics.stalenessSeconds",
    "--require-signals": "spec.metrics.requiredSignals",
}


def cr_field_problems(exc: ValueError) -> list[str]:
    """The problems of a ``RunConfig``/``build_controller`` error, each naming the CR's field
    instead of the ``rlscale run`` flag (the one place flag names become CR paths)."""
    problems = str(exc).split("; ")
    for flag, name in _FLAG_TO_FIELD.items():
        problems = [p.replace(flag, name) for p in problems]
    return problems


def run_config_for(spec: RLAutoscalerSpec, namespace: str, config: OperatorConfig) -> RunConfig:
    """The ``rlscale run`` configuration of one CR (one behaviour whichever way the loop
    runs). Raises :class:`SpecError` naming the CR's fields."""
    url = spec.prometheus_url or config.prometheus_url
    if url is None:
        raise SpecError(["spec.metrics.prometheusUrl: unset, and the operator has no --prometheus default"])
    run = RunConfig(
        namespace=namespace,
        deployment=spec.target_name,
        prometheus_url=url,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        policy=spec.policy,
        interval_s=spec.interval_s,
        dry_run=spec.dry_run,
        kubeconfig=config.kubeconfig,
        pod_capacity_rps=spec.pod_capacity_rps,
        slo_latency_s=spec.slo_latency_s,
        slo_budget=spec.slo_budget,
        startup_delay_s=spec.startup_delay_s,
        stabilization_window_s=spec.scale_down_stabilization_s,
        rate_period_s=spec.rate_period_s,
        max_step_up_pods=spec.max_scale_up_pods,
        max_step_up_percent=spec.max_scale_up_percent,
        max_step_down_pods=spec.max_scale_down_pods,
        max_step_down_percent=spec.max_scale_down_percent,
        fallback_hpa=spec.fallback_hpa,
        fallback_policy=spec.fallback_policy,
        required_signals=spec.required_signals,
        prometheus_timeout_s=spec.metrics_timeout_s,
        metric_queries={**spec.queries, "window": spec.metrics_window},
        staleness_s=spec.metrics_staleness_s,
    )
    try:
        run.validate()
    except ValueError as exc:
        raise SpecError(cr_field_problems(exc)) from None
    return run
