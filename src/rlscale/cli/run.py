"""``rlscale run``: the live controller for one target, configured by flags or RLSCALE_* variables."""

from __future__ import annotations

import typer

from rlscale.cli._options import (
    exit_on_bad_input,
    kubeconfig_option,
    log_file_option,
    metrics_addr_option,
    metrics_port_option,
)
from rlscale.controller import crd
from rlscale.core.kubernetes_defaults import HPA_DOWNSCALE_STABILIZATION_S


def register(app: typer.Typer) -> None:
    app.command(
        name="run", help="Run the live autoscaler for one Deployment (reads Prometheus, patches its scale)."
    )(run)


def run(
    namespace: str = typer.Option(
        ..., "--namespace", envvar="RLSCALE_NAMESPACE", help="Namespace of the Deployment."
    ),
    deployment: str = typer.Option(
        ..., "--deployment", envvar="RLSCALE_DEPLOYMENT", help="Deployment to scale."
    ),
    prometheus: str = typer.Option(
        ...,
        "--prometheus",
        envvar="RLSCALE_PROMETHEUS",
        help="Prometheus base URL, e.g. http://prometheus:9090.",
    ),
    policy: str = typer.Option(
        "hpa",
        "--policy",
        envvar="RLSCALE_POLICY",
        help="Policy spec NAME[:k=v,...]: hpa, keda, kpa, hpa:target=60, learned:PATH ...",
    ),
    min_replicas: int = typer.Option(
        ..., "--min", envvar="RLSCALE_MIN", help="Never fewer replicas than this."
    ),
    max_replicas: int = typer.Option(
        ..., "--max", envvar="RLSCALE_MAX", help="Never more replicas than this."
    ),
    interval_s: float = typer.Option(
        crd.DEFAULT_INTERVAL_S,
        "--interval",
        envvar="RLSCALE_INTERVAL",
        help="Seconds between decisions (default: the HPA sync period).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run/--apply", envvar="RLSCALE_DRY_RUN", help="Shadow mode: decide and log, never patch."
    ),
    kubeconfig: str | None = kubeconfig_option(),
    metrics_port: int | None = metrics_port_option("controller"),
    metrics_addr: str = metrics_addr_option(),
    log_file: str | None = log_file_option(),
    server: str | None = typer.Option(
        None,
        "--server",
        envvar="RLSCALE_SERVER",
        help="Client mode: ask this policy server (rlscale serve) instead.",
    ),
    server_token: str | None = typer.Option(
        None, "--server-token", envvar="RLSCALE_SERVER_TOKEN", help="Bearer token for the policy server."
    ),
    pod_capacity_rps: float = typer.Option(
        crd.DEFAULT_POD_CAPACITY_RPS,
        "--pod-capacity-rps",
        envvar="RLSCALE_POD_CAPACITY_RPS",
        help="Requests/s one pod sustains (the CRD's spec.service.podCapacityRps).",
    ),
    startup_delay_s: float = typer.Option(
        crd.DEFAULT_STARTUP_DELAY_S,
        "--startup-delay",
        "--startup-delay-seconds",
        envvar="RLSCALE_STARTUP_DELAY",
        help="Seconds from pod creation to Ready (the CRD's spec.service.startupDelaySeconds).",
    ),
    slo_s: float = typer.Option(
        0.5,
        "--slo-latency",
        "--slo",
        envvar="RLSCALE_SLO",
        help="Latency SLO in seconds (the CRD's spec.slo.latencySeconds): a request slower than this "
        "violates it (a bucket bound of the service's latency histogram, for the SLO violation query).",
    ),
    slo_budget: float = typer.Option(
        crd.DEFAULT_SLO_BUDGET,
        "--slo-budget",
        envvar="RLSCALE_SLO_BUDGET",
        help="SLO error budget (the CRD's spec.slo.budget): the fraction of requests that may be slower "
        "than --slo-latency or dropped (0.01 = 1 %). A learned policy with budget feedback keeps it.",
    ),
    stabilization_s: float = typer.Option(
        HPA_DOWNSCALE_STABILIZATION_S,
        "--stabilization-window",
        envvar="RLSCALE_STABILIZATION_WINDOW",
        help="Downscale stabilisation, s (default: the HPA's).",
    ),
    max_step_up_pods: int | None = typer.Option(
        crd.DEFAULT_SCALE_UP_PODS,
        "--max-step-up-pods",
        envvar="RLSCALE_MAX_STEP_UP_PODS",
        help="Max pods added per period (default: the HPA's).",
    ),
    max_step_up_percent: float | None = typer.Option(
        crd.DEFAULT_SCALE_UP_PERCENT,
        "--max-step-up-percent",
        envvar="RLSCALE_MAX_STEP_UP_PERCENT",
        help="Max percent added per period (default: the HPA's).",
    ),
    max_step_down_pods: int | None = typer.Option(
        None, "--max-step-down-pods", envvar="RLSCALE_MAX_STEP_DOWN_PODS", help="Max pods removed per period."
    ),
    max_step_down_percent: float | None = typer.Option(
        None,
        "--max-step-down-percent",
        envvar="RLSCALE_MAX_STEP_DOWN_PERCENT",
        help="Max percent removed per period.",
    ),
    rate_period_s: float = typer.Option(
        crd.DEFAULT_PERIOD_S,
        "--max-step-period",
        envvar="RLSCALE_MAX_STEP_PERIOD",
        help="Period of the --max-step-* limits, s.",
    ),
    no_fallback: bool = typer.Option(
        False, "--no-fallback", help="Hold instead of falling back to the HPA when the policy fails."
    ),
    fallback_policy: str = typer.Option(
        "hpa",
        "--fallback-policy",
        envvar="RLSCALE_FALLBACK_POLICY",
        help="The HPA spec to fall back to (hpa:target=70...).",
    ),
    require_signals: str = typer.Option(
        "request_rate_rps,cpu_utilization,ready_replicas",
        "--require-signals",
        envvar="RLSCALE_REQUIRE_SIGNALS",
        help="Comma-separated signals whose staleness makes the guard hold.",
    ),
    prometheus_timeout_s: float = typer.Option(
        2.0,
        "--prometheus-timeout",
        envvar="RLSCALE_PROMETHEUS_TIMEOUT",
        help="Timeout of one Prometheus query, s.",
    ),
    metric_queries: str | None = typer.Option(
        None,
        "--metric-queries",
        envvar="RLSCALE_METRIC_QUERIES",
        help="JSON file of PromQL per signal (MetricQueries fields).",
    ),
    metric_window: str | None = typer.Option(
        None,
        "--metric-window",
        envvar="RLSCALE_METRIC_WINDOW",
        help="rate() window of the default queries (default 1m).",
    ),
    staleness_s: float = typer.Option(
        60.0,
        "--staleness",
        envvar="RLSCALE_STALENESS",
        help="Metrics older than this (s) are stale: the guard holds.",
    ),
    window_configmap: str | None = typer.Option(
        None,
        "--window-configmap",
        envvar="RLSCALE_WINDOW_CONFIGMAP",
        help="Keep the downscale window in this ConfigMap (in --namespace) so a restart does not "
        "hold extra pods for a window (needs configmaps get/create/patch).",
    ),
    api_timeout_s: float = typer.Option(
        5.0, "--api-timeout", envvar="RLSCALE_API_TIMEOUT", help="Timeout of one Kubernetes API request, s."
    ),
    max_decisions: int | None = typer.Option(
        None, "--max-decisions", help="Stop after this many decisions (demos, tests)."
    ),
) -> None:
    """Reads metrics every --interval, asks the policy, passes the answer through the safety
    guard (hold/fallback, bounds, stabilisation, max step, dry run) and patches the scale."""
    import signal
    import threading

    from rlscale.controller.app import RunConfig, read_metric_queries
    from rlscale.controller.app import run as run_controller

    with exit_on_bad_input():
        queries = read_metric_queries(metric_queries, metric_window)

    config = RunConfig(
        namespace=namespace,
        deployment=deployment,
        prometheus_url=prometheus,
        policy=policy,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        interval_s=interval_s,
        dry_run=dry_run,
        kubeconfig=kubeconfig,
        metrics_port=metrics_port,
        metrics_addr=metrics_addr,
        log_file=log_file,
        server_url=server,
        server_token=server_token,
        pod_capacity_rps=pod_capacity_rps,
        slo_latency_s=slo_s,
        slo_budget=slo_budget,
        startup_delay_s=startup_delay_s,
        stabilization_window_s=stabilization_s,
        rate_period_s=rate_period_s,
        max_step_up_pods=max_step_up_pods,
        max_step_up_percent=max_step_up_percent,
        max_step_down_pods=max_step_down_pods,
        max_step_down_percent=max_step_down_percent,
        fallback_hpa=not no_fallback,
        fallback_policy=fallback_policy,
        required_signals=tuple(s.strip() for s in require_signals.split(",") if s.strip()),
        prometheus_timeout_s=prometheus_timeout_s,
        max_decisions=max_decisions,
        metric_queries=queries,
        staleness_s=staleness_s,
        api_timeout_s=api_timeout_s,
        window_configmap=window_configmap,
    )
    stop = threading.Event()
    try:
        with exit_on_bad_input():
            config.validate()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            run_controller(config, stop)
    except KeyboardInterrupt:
        stop.set()


def main() -> None:
    """``python -m rlscale.cli.run ...``: the controller alone (the container entry point)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(run)
    app()


if __name__ == "__main__":
    main()
