"""``rlscale serve``: the policy server (HTTP JSON, OpenAPI at /openapi.json)."""

from __future__ import annotations

import typer

from rlscale.cli._options import exit_on_bad_input
from rlscale.core import spec as service_defaults

#: The policy server's default port, apart from the sample service (8080), Prometheus (9090)
#: and the operator's metrics (9102) so all run side by side on one machine.
DEFAULT_SERVE_PORT = 8090


def register(app: typer.Typer) -> None:
    app.command(
        name="serve",
        help="Serve a policy over HTTP JSON (act with reasons, log_returns, online learning, /metrics).",
    )(serve)


def serve(
    policy: str = typer.Option(
        "online",
        "--policy",
        envvar="RLSCALE_POLICY",
        help="'online' (learns from /v1/log_returns) or a policy spec (hpa, learned:PATH ...).",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", envvar="RLSCALE_SERVE_HOST", help="Bind address (loopback by default)."
    ),
    port: int = typer.Option(
        DEFAULT_SERVE_PORT,
        "--port",
        envvar="RLSCALE_SERVE_PORT",
        help="TCP port (8090: apart from the sample service's 8080 and Prometheus' 9090).",
    ),
    token: str | None = typer.Option(
        None, "--token", envvar="RLSCALE_SERVE_TOKEN", help="Require 'Authorization: Bearer TOKEN' on /v1/*."
    ),
    min_replicas: int = typer.Option(1, "--min", help="Lowest replica count the server answers."),
    max_replicas: int = typer.Option(20, "--max", help="Highest replica count the server answers."),
    pod_capacity_rps: float = typer.Option(
        service_defaults.DEFAULT_POD_CAPACITY_RPS, "--pod-capacity-rps", help="Requests/s one pod sustains."
    ),
    startup_delay_s: float = typer.Option(
        service_defaults.DEFAULT_STARTUP_DELAY_S,
        "--startup-delay",
        "--startup-delay-seconds",
        help="Seconds from pod creation to Ready (the horizon a learned policy anticipates).",
    ),
    slo_s: float = typer.Option(0.5, "--slo", "--slo-latency", help="Latency SLO in seconds (p95)."),
    slo_budget: float = typer.Option(
        service_defaults.DEFAULT_SLO_BUDGET,
        "--slo-budget",
        help="Error budget: fraction of requests that may exceed the SLO or be dropped (echoed in answers).",
    ),
    update_interval_s: float = typer.Option(
        30.0,
        "--update-interval",
        help="Seconds between online updates from logged experience ('online' only).",
    ),
) -> None:
    """Run until interrupted."""
    from aiohttp import web

    from rlscale.controller.app import load_policy
    from rlscale.controller.online import LinearQPolicy
    from rlscale.controller.server import PolicyService, make_app
    from rlscale.core import ServiceSpec, observation_size

    with exit_on_bad_input():
        if not 0 <= port <= 65535:
            raise ValueError(f"--port must be in [0, 65535], got {port}")
        spec = ServiceSpec(
            "served",
            pod_capacity_rps,
            slo_s,
            min_replicas,
            max_replicas,
            startup_delay_s=startup_delay_s,
            slo_budget=slo_budget,
        )
        if policy == "online":
            service = PolicyService(spec, online=LinearQPolicy(observation_size()))
        else:
            load_policy(policy, spec)  # fail now, with the flag named, not at the first request
            service = PolicyService(spec, policy_factory=lambda: load_policy(policy, spec))
        app = make_app(service, token=token, update_interval_s=update_interval_s)
    web.run_app(app, host=host, port=port, print=lambda msg: typer.echo(msg, err=True))
