"""``rlscale serve``: the policy server (HTTP JSON, OpenAPI at /openapi.json); the options are
generated from :class:`ServeConfig`."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.controller.run_config import RunConfig
from rlscale.core.settings import same_field, setting

#: The policy server's default port, apart from the sample service (8080), Prometheus (9090)
#: and the operator's metrics (9102) so all run side by side on one machine.
DEFAULT_SERVE_PORT = 8090


@dataclass(frozen=True)
class ServeConfig:
    """The policy server's settings; the service facts are declared as ``rlscale run``'s."""

    policy: str = setting(
        "online",
        flags=("--policy",),
        env="RLSCALE_POLICY",
        help="'online' (learns from /v1/log_returns) or a policy spec (hpa, learned:PATH ...).",
    )
    host: str = setting(
        "127.0.0.1", flags=("--host",), env="RLSCALE_SERVE_HOST", help="Bind address (loopback by default)."
    )
    port: int = setting(
        DEFAULT_SERVE_PORT,
        flags=("--port",),
        env="RLSCALE_SERVE_PORT",
        help="TCP port (8090: apart from the sample service's 8080 and Prometheus' 9090).",
    )
    token: str | None = setting(
        None,
        flags=("--token",),
        env="RLSCALE_SERVE_TOKEN",
        help="Require 'Authorization: Bearer TOKEN' on /v1/*.",
    )
    min_replicas: int = setting(
        1, flags=("--min",), unit="pods", help="Lowest replica count the server answers."
    )
    max_replicas: int = setting(
        20, flags=("--max",), unit="pods", help="Highest replica count the server answers."
    )
    pod_capacity_rps: float = same_field(RunConfig, "pod_capacity_rps")
    startup_delay_s: float = same_field(RunConfig, "startup_delay_s")
    slo_latency_s: float = same_field(RunConfig, "slo_latency_s")
    slo_budget: float = same_field(RunConfig, "slo_budget")
    update_interval_s: float = setting(
        30.0,
        flags=("--update-interval",),
        unit="s",
        help="Time between online updates from logged experience ('online' only).",
    )


def register(app: typer.Typer) -> None:
    app.command(
        name="serve",
        help="Serve a policy over HTTP JSON (act with reasons, log_returns, online learning, /metrics).",
    )(config_command(ServeConfig, action=_serve))


def _serve(config: ServeConfig) -> None:
    """Run until interrupted."""
    from aiohttp import web

    from rlscale.controller.app import load_policy
    from rlscale.controller.online_learner import LinearQPolicy
    from rlscale.controller.server import PolicyService, make_app
    from rlscale.core import ServiceSpec, observation_size

    with exit_on_bad_input():
        if not 0 <= config.port <= 65535:
            raise ValueError(f"--port must be in [0, 65535], got {config.port}")
        spec = ServiceSpec(
            "served",
            config.pod_capacity_rps,
            config.slo_latency_s,
            config.min_replicas,
            config.max_replicas,
            startup_delay_s=config.startup_delay_s,
            slo_budget=config.slo_budget,
        )
        policy = config.policy
        if policy == "online":
            service = PolicyService(spec, online=LinearQPolicy(observation_size()))
        else:
            load_policy(policy, spec)  # fail now, with the flag named, not at the first request
            service = PolicyService(spec, policy_factory=lambda: load_policy(policy, spec))
        app = make_app(service, token=config.token, update_interval_s=config.update_interval_s)
    web.run_app(app, host=config.host, port=config.port, print=lambda msg: typer.echo(msg, err=True))
