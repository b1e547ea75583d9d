"""What does ≤ 1 % SLO violations cost a scaler that cannot see the future? Prints JSON.

    .venv/bin/python bench/reactive_bound.py [--split test|validation] [--seeds 3] [--windows 4]
                                            [--plots DIR] [--out FILE]

Issue 4 asks, on every test trace, for ≤ 1 % violations at no more than the tuned HPA's cost
(``cost_vs_hpa_frontier`` ≤ 1). This bench measures how far a whole family of reactive rules
gets: "size for the 4-minute peak, extrapolated by the upward trend over the start-up delay,
at target utilisation u" for u from 0.2 (5× headroom) to 0.6, with and without the 2-hour
peak-memory floor — the fixed actions of the shipped policy's own ``hold_target`` space
(``agents.teacher.FixedActionPolicy``), so the learned policy can express each of them.
Per trace it reports every rule's violations and ratio, the cheapest rule at ≤ 1 %, the HPA
frontier's fewest violations, the shipped policy and the clairvoyant oracle, and with
``--plots`` draws the cost-vs-violation picture per trace.

``--split validation`` runs the same on the validation windows carved from the training
splits (``agents.validation``), the windows model selection may look at.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# the test traces and the report-stat reader: bench/quality.py (bench/ is sys.path[0])
from quality import TEST_TRACES, _mean
from rlscale.agents.teacher import FixedActionPolicy
from rlscale.agents.validation import validation_traces
from rlscale.core.actions import ActionConfig
from rlscale.evaluation.harness import EvaluateConfig, prepare
from rlscale.evaluation.report import build_report, plot_frontier
from rlscale.evaluation.runner import PolicyEntry, evaluate
from rlscale.evaluation.specs import resolve_policies
from rlscale.sim.presets import load_service

#: Target utilisations of the rule family (1/u = headroom over the extrapolated peak).
RULE_UTILIZATIONS = (0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
#: Peak window of the rules, decision periods (4 min at 15 s: the observation's longest lag).
RULE_PEAK_WINDOW = 16
#: The issue's per-trace violation budget.
VIOLATION_BUDGET = 0.01


def rule_entries(floor_utilization: float | None) -> list[PolicyEntry]:
    action = ActionConfig(
        mode="hold_target",
        target_utilizations=RULE_UTILIZATIONS,
        peak_windows=(RULE_PEAK_WINDOW,),
        memory_floor_utilization=floor_utilization,
    )
    suffix = "" if floor_utilization is None else "+floor"
    return [
        PolicyEntry(
            f"peak4min@u{u:g}{suffix}",
            make=lambda spec, n, index=1 + i: FixedActionPolicy(spec, n, action, index),
        )
        for i, u in enumerate(RULE_UTILIZATIONS)
    ]


def trace_summary(report: dict[str, Any], trace: str, rule_labels: list[str]) -> dict[str, Any]:
    rows = {
        r["policy"]: {
            "slo_violation_rate": _mean(r["slo_violation_rate"]),
            "cost_usd": _mean(r["cost_usd"]),
            "cost_vs_hpa_frontier": _mean(r.get("cost_vs_hpa_frontier")),
        }
        for r in report["results"]
        if r["trace"] == trace and not r["policy"].startswith("hpa-frontier")
    }
    front = next(f["points"] for f in report["frontiers"] if f["trace"] == trace)
    in_budget = [
        (rows[label]["cost_vs_hpa_frontier"], label)
        for label in rule_labels
        if rows[label]["slo_violation_rate"] <= VIOLATION_BUDGET
        and rows[label]["cost_vs_hpa_frontier"] is not None
    ]
    best = min(in_budget, default=None)
    return {
        "hpa_frontier_fewest_violations": min(_mean(p["slo_violation_rate"]) for p in front),
        "cheapest_rule_within_budget": None
        if best is None
        else {"rule": best[1], "cost_vs_hpa_frontier": best[0]},
        "budget_reachable_at_no_more_than_hpa_cost": best is not None and best[0] <= 1.0,
        "policies": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("test", "validation"), default="test")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--window-hours", type=float, default=6.0)
    ap.add_argument(
        "--plots", type=Path, default=None, help="directory for one cost-vs-violation PNG per trace"
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    params = load_service("web")
    if args.split == "test":  # the windows rlscale evaluate and bench/quality.py score
        cfg = EvaluateConfig(
            traces=list(TEST_TRACES), service="web", windows=args.windows, window_hours=args.window_hours
        )
        traces = prepare(cfg).traces
    else:
        traces = validation_traces(params, TEST_TRACES, windows=args.windows, window_hours=args.window_hours)
    baselines, _ = resolve_policies(["learned", "hpa-frontier", "oracle"], params.spec)
    rules = rule_entries(None) + rule_entries(1.0)
    entries = [*baselines, *rules]
    results = evaluate(params, traces, entries, args.seeds)
    report = build_report(service={"preset": "web"}, seeds=args.seeds, results=results, config={}, notes=[])
    labels = [e.label for e in rules]
    out = {
        "bench": "reactive_bound",
        "split": args.split,
        "seeds": args.seeds,
        "rule": f"peak over {RULE_PEAK_WINDOW} periods x trend growth / (pod capacity x u)",
        "per_trace": {t.name: trace_summary(report, t.name, labels) for t in traces},
    }
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
        for t in traces:
            plot_frontier(args.plots / f"reactive_bound_{t.name.replace(':', '_')}.png", report, t.name)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
