"""``rlscale evaluate --service pools``: the GPU/CPU pools evaluation (issue 6). Called by
:mod:`rlscale.cli.evaluate`; the logic lives in :mod:`rlscale.evaluation.pools`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from rlscale.cli._options import EXIT_BAD_INPUT, table_console


def evaluate_pools_command(
    traces: list[str], policies: list[str], seeds: int, out: Path, json_out: bool
) -> None:
    """``--trace`` names a load pattern (ramp, spike, periodic, random, or synthetic:<pattern>);
    ``--policy`` a pools policy (all-gpu, all-cpu, balanced, static, hpa-per-pool, learned:PATH)."""
    from rich.console import Console
    from rich.table import Table

    from rlscale.evaluation.pools import (
        DEFAULT_POOLS_POLICIES,
        PATTERNS,
        PoolsEvalConfig,
        evaluate_pools,
        write_pools_report,
    )
    from rlscale.evaluation.report import format_stat, report_json_text

    err = Console(stderr=True)
    patterns = [t.removeprefix("synthetic:") for t in traces] or list(PATTERNS)
    args = ["rlscale", "evaluate", "--service", "pools"]
    for t in traces:
        args += ["--trace", t]
    for p in policies:
        args += ["--policy", p]
    args += ["--seeds", str(seeds), "--out", str(out)]
    config = PoolsEvalConfig(
        policies=list(policies) or list(DEFAULT_POOLS_POLICIES),
        patterns=patterns,
        seeds=seeds,
        out=out,
        command=" ".join(shlex.quote(a) for a in args),
    )
    try:
        report, timelines = evaluate_pools(config)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=EXIT_BAD_INPUT) from None
    report, path = write_pools_report(out, report, timelines)
    console = table_console(json_out)
    table = Table(title=f"pools ({seeds} seeds per pattern, mean±95 % CI)", caption="full table: report.md")
    for col in ("pattern", "policy", "viol %", "cost $", "GPU pods", "CPU pods"):
        table.add_column(col, justify="left" if col in ("pattern", "policy") else "right")
    for r in report["results"]:
        v, c = r["slo_violation_rate"], r["cost_usd"]
        table.add_row(
            r["pattern"],
            r["policy"],
            format_stat(v, scale=100),
            format_stat(c),
            f"{r['gpu_pods']['mean']:.2f}",
            f"{r['cpu_pods']['mean']:.2f}",
        )
    console.print(table)
    console.print(f"report: {path} (and report.md, plots in {path.parent})", highlight=False)
    if json_out:
        sys.stdout.write(report_json_text(report))
        sys.stdout.flush()
