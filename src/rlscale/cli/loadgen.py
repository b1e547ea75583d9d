"""``rlscale loadgen``: replay a trace open-loop against an HTTP endpoint (locust as a library)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(
        name="loadgen",
        help="Replay a trace open-loop against an HTTP endpoint; report achieved rate and latency.",
    )(loadgen)


def loadgen(
    trace: str = typer.Option(
        ...,
        "--trace",
        help="Trace to replay: a name (nasa, twitter, ...), 'synthetic:<kind>?k=v' or a CSV path.",
    ),
    url: str = typer.Option(
        ..., "--url", help="Endpoint to send GET requests to, e.g. http://127.0.0.1:8080/work."
    ),
    speedup: float = typer.Option(
        1.0, "--speedup", help="Replay the trace's timeline this many times faster (rates unchanged)."
    ),
    duration_s: float | None = typer.Option(
        None, "--duration", help="Stop after this many seconds (default: the whole, compressed trace)."
    ),
    max_rps: float | None = typer.Option(None, "--max-rps", help="Cap the offered rate, requests/s."),
    rate_scale: float = typer.Option(1.0, "--rate-scale", help="Multiply the trace's rates by this factor."),
    offset_s: float = typer.Option(0.0, "--offset", help="Start this many trace seconds into the trace."),
    arrivals: str = typer.Option(
        "poisson",
        "--arrivals",
        help="'poisson' (random arrivals at the trace's rate) or 'uniform' (evenly spaced).",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the Poisson arrival times."),
    max_inflight: int = typer.Option(
        1000, "--max-inflight", help="Most outstanding requests; arrivals beyond it are counted as skipped."
    ),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Per-request timeout, seconds."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON report instead of a table."),
) -> None:
    """Replay a trace open-loop: arrivals follow the trace, never the response time; report the
    achieved rate and latency percentiles."""
    from rich.console import Console
    from rich.table import Table

    from rlscale.loadgen.replay import (
        LoadgenConfig,
        LoadgenError,
        run_loadgen_subprocess,
        write_json_atomic,
    )

    try:
        config = LoadgenConfig(
            trace=trace,
            url=url,
            speedup=speedup,
            duration_s=duration_s,
            max_rps=max_rps,
            rate_scale=rate_scale,
            offset_s=offset_s,
            arrivals=arrivals,
            seed=seed,
            max_inflight=max_inflight,
            timeout_s=timeout_s,
        )
        report = run_loadgen_subprocess(config)
    except LoadgenError as exc:
        raise typer.BadParameter(str(exc)) from None
    data = report.to_dict()
    if output is not None:
        write_json_atomic(output, data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"loadgen {report.trace} -> {report.url}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("duration (s)", f"{report.duration_s:.1f}")
    table.add_row("requests sent / expected", f"{report.requests} / {report.expected_requests:.0f}")
    table.add_row("achieved rate (req/s)", f"{report.achieved_rps:.2f} (trace {report.expected_rps:.2f})")
    table.add_row("failures", str(report.failures))
    table.add_row("skipped (in-flight cap)", str(report.skipped_inflight_cap))
    for key in ("p50", "p90", "p95", "p99", "max"):
        if key in report.latency_s:
            table.add_row(f"latency {key} (ms)", f"{report.latency_s[key] * 1000:.1f}")
    Console().print(table)
