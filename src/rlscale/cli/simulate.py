"""``rlscale simulate``: run a load trace through the simulator under one scaling policy and
print a summary table. Heavy imports stay inside the command so ``rlscale --help`` is fast."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        service: str = typer.Option(
            "web", "--service", help="Service preset name (web, lipari2025, teastore) or a JSON file."
        ),
        trace: str = typer.Option(
            "nasa",
            "--trace",
            help="Named trace (nasa is bundled), 'synthetic:<kind>[?k=v&...]', or a CSV path. "
            "It is resampled to the service's step and rescaled so its peak maps to a fixed "
            "fraction of max_replicas capacity.",
        ),
        policy: str = typer.Option(
            "threshold",
            "--policy",
            help="Policy spec NAME[:k=v,...], e.g. threshold, static, hpa, hpa:target=60.",
        ),
        hours: float = typer.Option(
            24.0, "--hours", min=0.01, help="Hours of the trace to run (from its start)."
        ),
        seed: int = typer.Option(
            0, "--seed", min=0, help="Seed of the simulator's randomness (Poisson arrivals, start-up jitter)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
    ) -> None:
        """Run a trace through the batched simulator under a simple policy and summarise it."""
        import json
        import math

        from rich.console import Console
        from rich.table import Table

        from rlscale.sim.presets import load_service
        from rlscale.sim.rollout import rollout, summarize

        console = Console()
        try:
            params = load_service(service)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--service") from exc
        spec = params.spec
        if not math.isfinite(hours):
            raise typer.BadParameter(f"must be finite, got {hours}", param_hint="--hours")
        rates = _load_rates(trace, spec.step_s, spec.pod_capacity_rps, spec.max_replicas)
        steps = max(1, round(hours * 3600.0 / spec.step_s))
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
        if json_out:
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
