"""``rlscale evaluate``: every policy on the same windows, seeds and service; report.json,
report.md and plots (issue 3). The logic lives in :mod:`rlscale.evaluation.harness`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rlscale.cli._options import EXIT_BAD_INPUT, exit_on_bad_input, table_console
from rlscale.core.output_paths import check_output_dir


def evaluate(
    trace: Annotated[
        list[str] | None,
        typer.Option(
            "--trace",
            help="Trace to evaluate on (repeatable): a named trace (nasa, twitter, twitter-15s, alibaba-lora, "
            "alibaba-gateway), 'synthetic:<kind>[?seed=..&steps=..]', a CSV path, or a fleet: a directory or a "
            "quoted glob of CSV files, one service each (NAME.service.json beside NAME.csv gives that service its "
            "own model, as --service FILE; report.json then has a fleet summary). "
            "Default: the bundled NASA trace, 4 windows of its test part (August 1995).",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            "--column", help="Count column of every CSV trace given (named traces have fixed columns)."
        ),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="Policy SPEC (repeatable): hpa, hpa:target=60, hpa-frontier, keda, kpa, threshold, "
            "static:replicas=5, predictive, oracle, learned, learned:PATH. Default: hpa, hpa-frontier, keda, "
            "kpa, predictive, oracle and the shipped learned policy if one exists. The oracle is always added.",
        ),
    ] = None,
    service: Annotated[
        str,
        typer.Option(
            "--service",
            help="Service preset (web, lipari2025, teastore), a service JSON file, or 'pools' (GPU/CPU pools: "
            "--trace ramp|spike|periodic|random, --policy all-gpu|all-cpu|balanced|static|hpa-per-pool|learned:PATH, "
            "--seeds, --out, --json; the other options are refused).",
        ),
    ] = "web",
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds per window (arrival randomness); mean ± 95 % CI over them.")
    ] = 5,
    window_hours: Annotated[
        float | None,
        typer.Option("--window-hours", help="Window length in hours with --windows (default 6)."),
    ] = None,
    windows: Annotated[
        int | None,
        typer.Option(
            "--windows",
            help="Evaluate N windows of --window-hours from each trace's test split (default: each trace whole; "
            "4 windows for the default NASA trace).",
        ),
    ] = None,
    chunk_hours: Annotated[
        float | None,
        typer.Option(
            "--chunk-hours",
            help="Run each whole trace as chunks of H hours side by side in one batch (each after a 1-h "
            "lead-in that is played, not scored): a 60-day trace in seconds instead of one long loop.",
        ),
    ] = None,
    warmup_hours: Annotated[
        float,
        typer.Option(
            "--warmup-hours",
            help="Hours at the start of each window that every policy (baselines, frontier and oracle too) "
            "plays but no metric scores: a deployed scaler has history. Default 0.",
        ),
    ] = 0.0,
    slo_budget: Annotated[
        list[float] | None,
        typer.Option(
            "--slo-budget",
            help="SLO error budget, a fraction (repeatable: 0.005, 0.01, 0.02). Adds the budget view: per "
            "trace and budget the tuned-HPA reference (cheapest hpa:target=10..95 or static:replicas=N "
            "keeping it, in hindsight), and per policy budget_kept, seeds_kept and cost_vs_tuned_hpa; "
            "learned runs once per budget (learned:budget=B).",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the batches as Ray tasks (pip install 'rlscale\\[ray]'): 'local' starts an embedded Ray on "
            "this machine's cores (shut down at the end, Ctrl-C included), 'auto' joins the running cluster, "
            "'ray://host:port' a remote one. Same report numbers as without --ray.",
        ),
    ] = None,
    ray_cpus: Annotated[
        int | None,
        typer.Option("--ray-cpus", help="CPUs of the embedded Ray of --ray local (default: every core)."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Report directory (report.json, report.md, PNG plots).")
    ] = Path("reports/evaluate"),
    json_out: Annotated[
        bool, typer.Option("--json", help="Print report.json to stdout (the table goes to stderr).")
    ] = False,
) -> None:
    """Evaluate policies against the HPA frontier and the clairvoyant oracle."""
    from rich.console import Console

    from rlscale.evaluation.harness import EvaluateConfig, EvaluationInputError, prepare_job, run_and_write
    from rlscale.evaluation.report import report_json_text

    with exit_on_bad_input():  # before any work: a bad --out used to lose the whole run at the end
        check_output_dir(out, "--out")
    err = Console(stderr=True)
    config = EvaluateConfig(
        traces=list(trace or []),
        column=column,
        policies=list(policy or []),
        service=service,
        seeds=seeds,
        window_hours=window_hours,
        windows=windows,
        out=out,
        chunk_hours=chunk_hours,
        ray=ray,
        ray_cpus=ray_cpus,
        warmup_hours=warmup_hours,
        slo_budgets=list(slo_budget or []),
    )
    try:
        prep = prepare_job(config)
    except EvaluationInputError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    report, path = run_and_write(prep, progress=True)
    console = table_console(json_out)
    _print_table(console, report)
    console.print(f"report: {path} (and report.md, plots in {path.parent})", highlight=False)
    if json_out:
        sys.stdout.write(report_json_text(report))
        sys.stdout.flush()


def _print_table(console: object, report: dict) -> None:
    """One compact table per trace (mean±CI); the full set of metrics is in report.md."""
    from rich.table import Table

    from rlscale.evaluation.pools import REPORT_SCHEMA as POOLS_REPORT_SCHEMA

    if report.get("schema") == POOLS_REPORT_SCHEMA:
        _print_pools_table(console, report)
        return

    def fmt(stat: dict | None, scale: float, with_ci: bool) -> str:
        if not stat or stat.get("mean") is None:
            return "—"
        text = f"{stat['mean'] * scale:.3g}"
        if with_ci and stat.get("ci95"):
            text += f"±{stat['ci95'] * scale:.1g}"
        return text

    # (header, key, scale, show CI): the trade-off and the scores; CIs on its two axes only,
    # so the table fits 80 columns (latency, churn and SPEC metrics are in report.md)
    columns = [
        ("viol %", "slo_violation_rate", 100.0, True),
        ("cost $", "cost_usd", 1.0, True),
        ("replicas", "avg_replicas", 1.0, False),
        ("÷frontier", "cost_vs_hpa_frontier", 1.0, False),
        ("÷oracle", "cost_vs_oracle", 1.0, False),
        ("gap", "hpa_oracle_gap_closed", 1.0, False),
    ]
    for trace in dict.fromkeys(r["trace"] for r in report["results"]):
        rows = [r for r in report["results"] if r["trace"] == trace]
        shown = [c for c in columns if any(r[c[1]]["mean"] is not None for r in rows)]
        table = Table(
            title=f"{trace} ({report['service'].get('name')}, {report['seeds']} seeds, mean±95 % CI)",
            caption="full metrics and CIs: report.md",
        )
        table.add_column("policy", overflow="fold", min_width=12)
        for header, *_ in shown:
            table.add_column(header, justify="right", no_wrap=True)
        budgets = sorted({b["slo_budget"] for r in rows for b in r.get("budgets", [])})
        for b in budgets:  # kept (✓/✗) and cost against the HPA tuned in hindsight for b
            table.add_column(f"{100 * b:g} %: ÷tuned", justify="right", no_wrap=True)
        for r in rows:
            cells = [fmt(r[key], scale, ci) for _, key, scale, ci in shown]
            judged = {b["slo_budget"]: b for b in r.get("budgets", [])}
            for budget in budgets:
                b = judged.get(budget)
                mark = "" if b is None else ("✓ " if b["budget_kept"] else "✗ ")
                cells.append("" if b is None else mark + fmt(b["cost_vs_tuned_hpa"], 1.0, False))
            table.add_row(r["policy"], *cells)
        console.print(table)  # type: ignore[attr-defined]


def _print_pools_table(console: object, report: dict) -> None:
    """``--service pools``: one row per (load pattern, policy)."""
    from rich.table import Table

    from rlscale.evaluation.report import format_stat

    seeds = report["config"]["seeds"]
    table = Table(title=f"pools ({seeds} seeds per pattern, mean±95 % CI)", caption="full table: report.md")
    for col in ("pattern", "policy", "viol %", "cost $", "GPU pods", "CPU pods"):
        table.add_column(col, justify="left" if col in ("pattern", "policy") else "right")
    for r in report["results"]:
        table.add_row(
            r["pattern"],
            r["policy"],
            format_stat(r["slo_violation_rate"], scale=100),
            format_stat(r["cost_usd"]),
            f"{r['gpu_pods']['mean']:.2f}",
            f"{r['cpu_pods']['mean']:.2f}",
        )
    console.print(table)  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
