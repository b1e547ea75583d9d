"""``rlscale operator``: the kopf operator for ``RLAutoscaler`` custom resources."""

from __future__ import annotations

import typer

from rlscale.cli._options import (
    exit_on_bad_input,
    kubeconfig_option,
    log_file_option,
    metrics_addr_option,
    metrics_port_option,
)


def register(app: typer.Typer) -> None:
    app.command(
        name="operator",
        help="Run the kopf operator: one guarded control loop per RLAutoscaler, with leader election.",
    )(operator)


def operator(
    namespace: str = typer.Option(
        "default",
        "--namespace",
        envvar="RLSCALE_NAMESPACE",
        help="Namespace to watch (the operator is namespace-scoped).",
    ),
    kubeconfig: str | None = kubeconfig_option(),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        envvar="RLSCALE_PROMETHEUS",
        help="Prometheus URL for RLAutoscalers without spec.metrics.prometheusUrl.",
    ),
    identity: str | None = typer.Option(
        None,
        "--identity",
        envvar="RLSCALE_IDENTITY",
        help="Leader-election identity (default: hostname-pid-random; use the pod name).",
    ),
    lease_name: str = typer.Option(
        "rlscale-operator",
        "--lease-name",
        envvar="RLSCALE_LEASE_NAME",
        help="Name of the coordination.k8s.io Lease.",
    ),
    lease_duration_s: int = typer.Option(
        15,
        "--lease-duration",
        envvar="RLSCALE_LEASE_DURATION",
        help="Lease duration, s (client-go default 15).",
    ),
    time_scale: float = typer.Option(
        1.0,
        "--time-scale",
        envvar="RLSCALE_TIME_SCALE",
        help="Only for an emulated cluster run faster than real time (rlscale emulate --speedup): same factor.",
    ),
    log_file: str | None = log_file_option(),
    metrics_port: int | None = metrics_port_option("operator"),
    metrics_addr: str = metrics_addr_option(),
    scanning: bool = typer.Option(
        True,
        "--scanning/--no-scanning",
        envvar="RLSCALE_SCANNING",
        help="Let kopf watch CRDs to follow cluster changes (needs CRD list/watch RBAC).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Watches RLAutoscalers in one namespace. For each, every spec.intervalSeconds: read
    Prometheus, ask the policy, pass the answer through the safety guard, patch the
    Deployment's scale; record the decision in status, events and the decision log. Of
    several replicas only the Lease holder acts."""
    import logging
    import signal

    from rlscale.controller.operator import Operator
    from rlscale.controller.operator_config import OperatorConfig

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with exit_on_bad_input():
        kwargs = {"identity": identity} if identity else {}
        config = OperatorConfig(
            namespace=namespace,
            kubeconfig=kubeconfig,
            prometheus_url=prometheus,
            lease_name=lease_name,
            lease_duration_s=lease_duration_s,
            time_scale=time_scale,
            log_file=log_file,
            metrics_port=metrics_port,
            metrics_addr=metrics_addr,
            scanning=scanning,
            **kwargs,
        ).validate()
        instance = Operator(config)
    signal.signal(signal.SIGTERM, lambda *_: instance.stop_flag.set())
    try:
        instance.run()
    except KeyboardInterrupt:
        instance.stop_flag.set()
