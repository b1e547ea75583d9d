"""``rlscale evaluate``: every policy on the same windows, seeds and service; report.json,
report.md and plots (issue 3). The logic lives in :mod:`rlscale.evaluation.harness`; the options
are generated from :class:`~rlscale.evaluation.evaluate_config.EvaluateConfig` and :class:`EvaluateLaunch`."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input, table_console
from rlscale.core.settings import setting
from rlscale.evaluation.evaluate_config import EvaluateConfig


@dataclass(frozen=True)
class EvaluateLaunch:
    """How this command shows the report (not part of the job's configuration)."""

    json_out: bool = setting(
        False, flags=("--json",), help="Print report.json to stdout (the table goes to stderr)."
    )


def evaluate(config: EvaluateConfig, launch: EvaluateLaunch) -> None:
    """Evaluate policies against the HPA frontier and the clairvoyant oracle."""
    from rlscale.evaluation.harness import prepare_job, run_and_write
    from rlscale.evaluation.report import report_json_text

    with exit_on_bad_input():  # every input checked before any work: EvaluationInputError is a ValueError
        prep = prepare_job(config)
    report, path = run_and_write(prep, progress=True)
    console = table_console(launch.json_out)
    _print_table(console, report)
    console.print(f"report: {path} (and report.md, plots in {path.parent})", highlight=False)
    if launch.json_out:
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
    app.command("evaluate")(config_command(EvaluateConfig, EvaluateLaunch, action=evaluate))
