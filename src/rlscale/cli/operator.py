"""``rlscale operator``: the kopf operator for ``RLAutoscaler`` custom resources."""

from __future__ import annotations

from typing import Optional

import typer


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
    kubeconfig: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--kubeconfig",
        envvar="RLSCALE_KUBECONFIG",
        help="Kubeconfig path, or 'in-cluster' (default: ~/.kube/config).",
    ),
    prometheus: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--prometheus",
        envvar="RLSCALE_PROMETHEUS",
        help="Prometheus URL for RLAutoscalers without spec.metrics.prometheusUrl.",
    ),
    identity: Optional[str] = typer.Option(  # noqa: UP045
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
    log_file: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--log-file",
        envvar="RLSCALE_LOG_FILE",
        help="Append JSON-lines decision logs here (default: stdout).",
    ),
    metrics_port: Optional[int] = typer.Option(  # noqa: UP045
        None,
        "--metrics-port",
        envvar="RLSCALE_METRICS_PORT",
        help="Serve the operator's own /metrics on this port.",
    ),
    metrics_addr: str = typer.Option(
        "127.0.0.1",
        "--metrics-addr",
        envvar="RLSCALE_METRICS_ADDR",
        help="Address for /metrics (0.0.0.0 in a pod).",
    ),
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

    from rlscale.controller.operator import Operator, OperatorConfig

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
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
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc
    import signal

    signal.signal(signal.SIGTERM, lambda *_: instance.stop_flag.set())
    try:
        instance.run()
    except KeyboardInterrupt:
        instance.stop_flag.set()
