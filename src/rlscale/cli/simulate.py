"""``rlscale simulate``: run a load trace through the simulator under one scaling policy and
print a summary table (the options are generated from :class:`SimulateConfig`). Heavy imports stay
inside the command so ``rlscale --help`` is fast."""

from __future__ import annotations

import math
from dataclasses import dataclass

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.core.settings import ConfigError, setting
from rlscale.core.spec import DEFAULT_SERVICE

#: The shortest run, hours (36 s: a few decision periods).
MIN_HOURS = 0.01


@dataclass(frozen=True)
class SimulateConfig:
    """One simulated run and how its summary is printed. :meth:`validate` names each bad flag."""

    service: str = setting(
        DEFAULT_SERVICE,
        flags=("--service",),
        help="Service preset name (web, lipari2025, teastore) or a JSON file.",
    )
    trace: str = setting(
        "nasa",
        flags=("--trace",),
        help="Named trace (nasa is bundled), 'synthetic:<kind>[?k=v&...]', or a CSV path. "
        "It is resampled to the service's step and rescaled so its peak maps to a fixed "
        "fraction of max_replicas capacity.",
    )
    policy: str = setting(
        "threshold",
        flags=("--policy",),
        help="Policy spec NAME[:k=v,...], e.g. threshold, static, hpa, hpa:target=60.",
    )
    hours: float = setting(
        24.0, flags=("--hours",), help=f"Hours of the trace to run (from its start), >= {MIN_HOURS:g}."
    )
    seed: int = setting(
        0,
        flags=("--seed",),
        help="Seed of the simulator's randomness (Poisson arrivals, start-up jitter), >= 0.",
    )
    json_out: bool = setting(False, flags=("--json",), help="Print the summary as JSON instead of a table.")

    def validate(self) -> SimulateConfig:
        problems = []
        if not MIN_HOURS <= self.hours < math.inf:
            problems.append(f"{{hours}} must be a finite number >= {MIN_HOURS}, got {self.hours}")
        if self.seed < 0:
            problems.append(f"{{seed}} must be >= 0, got {self.seed}")
        if problems:
            raise ConfigError(type(self), problems)
        return self


def register(app: typer.Typer) -> None:
    app.command("simulate")(config_command(SimulateConfig, action=simulate))


def simulate(config: SimulateConfig) -> None:
    """Run a trace through the batched simulator under a simple policy and summarise it."""
    import json

    from rich.console import Console
    from rich.table import Table

    from rlscale.sim.presets import load_service
    from rlscale.sim.rollout import rollout, summarize

    with exit_on_bad_input():
        config.validate()
    trace, policy, seed = config.trace, config.policy, config.seed
    console = Console()
    try:
        params = load_service(config.service)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--service") from exc
    spec = params.spec
    rates = _load_rates(trace, spec.step_s, spec.pod_capacity_rps, spec.max_replicas)
    steps = max(1, round(config.hours * 3600.0 / spec.step_s))
    if rates.size < steps:
        # a note, on stderr: stdout may carry --json
        Console(stderr=True).print(
            f"[yellow]trace has {rates.size} steps ({rates.size * spec.step_s / 3600:.1f} h); running all of it[/]"
        )
        steps = rates.size
    try:
        from rlscale.policies.registry import build_policy

        scaler = build_policy(policy, spec, 1)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy") from exc
    metrics = rollout(params, rates[:steps], scaler, seed=seed)
    summary = summarize(metrics, params)
    summary = {"service": spec.name, "trace": trace, "policy": policy, "seed": seed, **summary}
    if config.json_out:
        console.print_json(json.dumps(summary))
        return
    table = Table(
        title=f"rlscale simulate: {trace} on {spec.name} under {policy} ({steps * spec.step_s / 3600:.1f} h)"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("requests offered", f"{summary['requests_offered']:,.0f}"),
        ("requests dropped", f"{summary['requests_dropped']:,.0f}"),
        (
            f"SLO violation rate (> {spec.slo_latency_s * 1000:.0f} ms or dropped)",
            f"{100 * summary['slo_violation_rate']:.3f} %",
        ),
        ("latency p50", f"{1000 * summary['latency_p50_s']:.1f} ms"),
        ("latency p95", f"{1000 * summary['latency_p95_s']:.1f} ms"),
        ("latency p99", f"{1000 * summary['latency_p99_s']:.1f} ms"),
        ("mean ready replicas", f"{summary['mean_ready_replicas']:.2f}"),
        ("pod-hours", f"{summary['pod_hours']:.2f}"),
        ("CPU core-hours (requested)", f"{summary['cpu_core_hours']:.2f}"),
        ("cost", f"$ {summary['cost_usd']:.4f}"),
        ("scaling actions per hour", f"{summary['scaling_actions_per_hour']:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _load_rates(trace: str, step_s: float, capacity_rps: float, max_replicas: int):  # type: ignore[no-untyped-def]
    """The trace as req/s per simulator step, rescaled to the service, gaps interpolated."""
    import numpy as np

    from rlscale.workload import fill_gaps, get_trace, rescale_trace

    try:
        series = fill_gaps(get_trace(trace, step_s=step_s))
        if not np.asarray(series.valid, dtype=bool).any():
            raise ValueError(f"trace {trace!r} has no valid steps (every step is a gap)")
        series = rescale_trace(series, pod_capacity_rps=capacity_rps, max_replicas=max_replicas)
    except ValueError as exc:  # TraceError included: an all-zero trace cannot be rescaled
        raise typer.BadParameter(str(exc), param_hint="--trace") from exc
    rates = np.asarray(series.rate_rps, dtype=np.float64)
    valid = np.asarray(series.valid, dtype=bool) & np.isfinite(rates)
    first, last = np.flatnonzero(valid)[[0, -1]]
    rates = rates[first : last + 1]
    return np.where(np.isfinite(rates), rates, 0.0)
