"""The settings of one operator replica, stated once: :class:`OperatorConfig`. Its fields carry
the ``rlscale operator`` flags, environment variables, defaults and help (the command's options
and docs/flags.md are generated from them, :mod:`rlscale.core.settings`); the per-target
settings come from each custom resource (:class:`~rlscale.controller.run_config.RunConfig`),
through :func:`run_config_for`, so the CR and the CLI run one behaviour."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from rlscale.controller.crd import RLAutoscalerSpec, SpecError, spec_problems
from rlscale.controller.operator_lease import DEFAULT_LEASE_DURATION_S, LeaseConfig
from rlscale.controller.run_config import (
    IN_CLUSTER,
    KUBECONFIG,
    LOG_FILE,
    METRICS_ADDR,
    METRICS_PORT,
    RunConfig,
)
from rlscale.core.settings import ConfigError, setting


def _default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class OperatorConfig:
    """Settings of one operator replica. :meth:`validate` names each bad flag."""

    namespace: str = setting(
        "default",
        flags=("--namespace",),
        env="RLSCALE_NAMESPACE",
        help="Namespace to watch (the operator is namespace-scoped).",
    )
    kubeconfig: str | None = KUBECONFIG.field(None)
    prometheus_url: str | None = setting(
        None,
        flags=("--prometheus",),
        env="RLSCALE_PROMETHEUS",
        help="Prometheus URL for RLAutoscalers without spec.metrics.prometheusUrl.",
    )
    identity: str = setting(
        default_factory=_default_identity,
        flags=("--identity",),
        env="RLSCALE_IDENTITY",
        help="Leader-election identity (default: hostname-pid-random; use the pod name).",
    )
    lease_name: str = setting(
        "rlscale-operator",
        flags=("--lease-name",),
        env="RLSCALE_LEASE_NAME",
        help="Name of the coordination.k8s.io Lease.",
    )
    lease_duration_s: int = setting(
        DEFAULT_LEASE_DURATION_S,
        flags=("--lease-duration",),
        env="RLSCALE_LEASE_DURATION",
        unit="s",
        help="Lease duration (client-go default 15).",
    )
    #: > 1 only against an emulated cluster running that many times faster than real time
    #: (`rlscale emulate --speedup`): intervals and the controller's clock are scaled with it.
    time_scale: float = setting(
        1.0,
        flags=("--time-scale",),
        env="RLSCALE_TIME_SCALE",
        help="Only for an emulated cluster run faster than real time (rlscale emulate --speedup): same factor.",
    )
    log_file: str | None = LOG_FILE.field(None)
    metrics_port: int | None = METRICS_PORT.field(None)
    metrics_addr: str = METRICS_ADDR.field("127.0.0.1")
    #: kopf watches CRDs and namespaces to follow cluster changes; off keeps RBAC smaller.
    scanning: bool = setting(
        True,
        flags=("--scanning/--no-scanning",),
        env="RLSCALE_SCANNING",
        help="Let kopf watch CRDs to follow cluster changes (needs CRD list/watch RBAC).",
    )
    verbose: bool = setting(False, flags=("--verbose", "-v"), help="Debug logging.")
    release_on_exit: bool = True  # give the lease up on a clean stop (client-go ReleaseOnCancel)

    def validate(self) -> OperatorConfig:
        problems = []
        if not self.namespace:
            problems.append("{namespace} must not be empty")
        if not self.identity:
            problems.append("{identity} must not be empty (leave it unset for hostname-pid-random)")
        if self.lease_duration_s < 2:
            problems.append(f"{{lease_duration_s}} must be >= 2 s, got {self.lease_duration_s}")
        if not 0 < self.time_scale < float("inf"):
            problems.append(f"{{time_scale}} must be a finite number > 0, got {self.time_scale}")
        if self.kubeconfig not in (None, IN_CLUSTER) and not os.path.isfile(self.kubeconfig):
            problems.append(f"{{kubeconfig}} {self.kubeconfig!r}: no such file (or use 'in-cluster')")
        if self.prometheus_url is not None and not self.prometheus_url.startswith(("http://", "https://")):
            problems.append(f"{{prometheus_url}} must be an http(s) URL, got {self.prometheus_url!r}")
        if problems:
            raise ConfigError(type(self), problems)
        return self

    def lease(self) -> LeaseConfig:
        return LeaseConfig.scaled(self.namespace, self.lease_name, self.lease_duration_s)


def run_config_for(spec: RLAutoscalerSpec, namespace: str, config: OperatorConfig) -> RunConfig:
    """The ``rlscale run`` configuration of one CR (one behaviour whichever way the loop
    runs). Raises :class:`SpecError` naming the CR's fields."""
    values = {"prometheus_url": config.prometheus_url, **spec.settings}
    if values["prometheus_url"] is None:
        raise SpecError(["spec.metrics.prometheusUrl: unset, and the operator has no --prometheus default"])
    run = RunConfig(namespace=namespace, kubeconfig=config.kubeconfig, **values)
    try:
        return run.validate()
    except ValueError as exc:
        raise SpecError(spec_problems(exc)) from None
