"""``rlscale calibrate``: fit a service preset from a running service's Prometheus history."""

from __future__ import annotations

import math
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(
        name="calibrate",
        help="Fit a service preset (capacity, CPU model, start-up delay, base latency) from a "
        "Deployment's Prometheus history and write it as a JSON file that --service accepts.",
    )(calibrate)


def calibrate(
    prometheus: str = typer.Option(
        ..., "--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090."
    ),
    namespace: str = typer.Option(..., "--namespace", help="Namespace of the Deployment."),
    deployment: str = typer.Option(..., "--deployment", help="Deployment name (also the 'service' label)."),
    out: Path = typer.Option(..., "--out", help="Where to write the fitted preset (JSON)."),
    since: str = typer.Option("30m", "--since", help="How far back to read, a duration (30m, 1h, 90s)."),
    step: str = typer.Option(
        "5s", "--step", help="Range-query step for rates (replica counts are read at min(step, 1s))."
    ),
    window: str = typer.Option(
        "1m", "--window", help="rate() window: at least four scrape intervals (Prometheus docs)."
    ),
    base: str = typer.Option(
        "web",
        "--base",
        help="Preset (name or JSON file) for everything not fitted (SLO, bounds, step, prices) and for "
        "values the data cannot give.",
    ),
    cpu_limit_cores: float | None = typer.Option(
        None,
        "--cpu-limit-cores",
        help="Per-pod CPU limit, cores (default: kube_pod_container_resource_limits, else the request).",
    ),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Seconds per Prometheus query."),
    json_out: Path | None = typer.Option(
        None, "--report", help="Also write the fitted parameters, notes and diagnostics as JSON."
    ),
) -> None:
    """Reads request rate, CPU, latency histogram and replica counts over --since, fits the
    service model and writes the preset to --out. Exits 2 on bad input or unusable data."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rlscale.calibration import calibrate_prometheus, parse_duration_s
    from rlscale.controller.client import validate_http_url
    from rlscale.core.output_paths import check_output_file

    console = Console()
    try:
        validate_http_url(prometheus, "--prometheus")
        check_output_file(out, "--out")
        if json_out is not None:
            check_output_file(json_out, "--report")
        since_s = parse_duration_s(since, "--since")
        step_s = parse_duration_s(step, "--step")
        if cpu_limit_cores is not None and not 0 < cpu_limit_cores < math.inf:
            raise ValueError(f"--cpu-limit-cores must be a finite number > 0, got {cpu_limit_cores}")
        result = calibrate_prometheus(
            prometheus,
            namespace,
            deployment,
            since_s=since_s,
            step_s=step_s,
            base=base,
            window=window,
            cpu_limit_cores=cpu_limit_cores,
            timeout_s=timeout_s,
            out=out,
        )
    except ValueError as exc:  # CalibrationDataError included
        # on stderr, one line; a URL in brackets is not markup
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None

    table = Table(title=f"{namespace}/{deployment}: fitted over the last {since}")
    for col in ("parameter", "value", "unit", "± (1 s.e.)", "samples", "from"):
        table.add_column(col, justify="right" if col in ("value", "± (1 s.e.)", "samples") else "left")
    for p in result.parameters:
        stderr = "" if math.isnan(p.stderr) else f"{p.stderr:.3g}"
        source = p.source + (f" ({p.note})" if p.note else "")
        table.add_row(p.name, f"{p.value:.4g}", p.unit, stderr, str(p.samples or ""), source)
    console.print(table)
    for key, value in result.diagnostics.items():
        console.print(f"  {key}: {value:.4g}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if json_out is not None:
        result.write_report(json_out)
    console.print(f"wrote {out} (use it with --service {out})")
