"""Quality of the shipped learned policy on the TEST windows, through the evaluation harness
(same windows, seeds, arrivals and scores as ``rlscale evaluate``): the SLO-budget view of
issue 13 (each budget kept? cost against the HPA tuned in hindsight), the HPA frontier view,
plus the lipari2025
comparison with seed 000's published DQN, a generalisation check on traces outside the test
triple, and the live decision latency. Prints JSON.

    .venv/bin/python bench/quality.py [--checkpoint DIR] [--seeds 5] [--windows 4] [--out FILE]
                                      [--lipari-checkpoint DIR] [--only all|budget|frontier]

The lipari2025 comparison runs the shipped (web-trained) policy and, with
``--lipari-checkpoint`` (default: the packaged ``data/policies/lipari2025`` when present), a
policy trained on the lipari2025 preset itself, as seed 000 trained its DQN on its simulator.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from rlscale.evaluation.harness import EvaluateConfig, prepare, run
from rlscale.evaluation.runner import EvalTrace, evaluate
from rlscale.evaluation.specs import resolve_policies
from rlscale.policies.learned import LearnedPolicy, default_policy_path
from rlscale.sim.presets import get_preset, load_service
from rlscale.workload import seed000

#: The test traces of issue 4 (their standard_split test parts: NASA August, the last week of
#: Twitter, the last days of the Alibaba LoRA trace).
TEST_TRACES = ("nasa", "twitter-15s", "alibaba-lora")
#: Seed 000's published simulated DQN (reference/seed-systems.md §1.3): violations (RT > 0.7 s,
#: per step) and average replicas, without / with the LSTM predictor.
SEED000_DQN = {"slo_violation_rate_steps": [0.001, 0.002], "avg_replicas": [4.30, 4.34]}
SCORES = ("cost_vs_hpa_frontier", "cost_vs_oracle", "hpa_oracle_gap_closed")
#: Generalisation traces: the Alibaba gateway's test part and synthetic patterns at seeds
#: >= 1e6 (training uses seeds < 1000 * windows, validation 500..).
GENERALISATION_TRACES = (
    "alibaba-gateway",
    "synthetic:flash-crowd?seed=1000001",
    "synthetic:bursty?seed=1000002",
)


def _mean(stat: Any) -> float | None:
    if isinstance(stat, dict):
        return stat.get("mean")
    return stat


def _per_trace(report: dict[str, Any], policy_spec: str) -> dict[str, dict[str, Any]]:
    """The policy's mean scores per trace of an evaluation report."""
    out: dict[str, dict[str, Any]] = {}
    for row in report["results"]:
        if row["policy"] == policy_spec:
            out[row["trace"]] = {
                "slo_violation_rate": _mean(row["slo_violation_rate"]),
                "cost_usd": _mean(row["cost_usd"]),
                **{k: _mean(row[k]) for k in SCORES},
                "notes": row.get("notes", []),
            }
    return out


def _evaluate(
    policy_spec: str, traces: tuple[str, ...], seeds: int, windows: int, window_hours: float
) -> Any:
    cfg = EvaluateConfig(
        traces=list(traces),
        policies=[policy_spec, "hpa", "hpa-frontier", "oracle"],
        service="web",
        seeds=seeds,
        windows=windows,
        window_hours=window_hours,
        command=f"bench/quality.py ({policy_spec})",
    )
    report, _ = run(prepare(cfg))
    return report


def web_quality(policy_spec: str, seeds: int, windows: int, window_hours: float) -> dict[str, Any]:
    report = _evaluate(policy_spec, TEST_TRACES, seeds, windows, window_hours)
    per_trace = _per_trace(report, policy_spec)
    avg = {}
    for key in ("slo_violation_rate", "cost_usd", *SCORES):
        vals = [v[key] for v in per_trace.values() if v.get(key) is not None]
        avg[key] = float(np.mean(vals)) if len(vals) == len(per_trace) and vals else None
    bar = {
        "every_trace_violation_le_1pct": all(
            (v["slo_violation_rate"] or 1) <= 0.01 for v in per_trace.values()
        ),
        "every_trace_cost_vs_hpa_frontier_le_1": all(
            v["cost_vs_hpa_frontier"] is not None and v["cost_vs_hpa_frontier"] <= 1
            for v in per_trace.values()
        ),
        "avg_cost_vs_hpa_frontier_le_0_85": avg["cost_vs_hpa_frontier"] is not None
        and avg["cost_vs_hpa_frontier"] <= 0.85,
        "avg_hpa_oracle_gap_closed_ge_0_5": avg["hpa_oracle_gap_closed"] is not None
        and avg["hpa_oracle_gap_closed"] >= 0.5,
    }
    frontiers = {f["trace"]: f["points"] for f in report.get("frontiers", [])}
    return {
        "per_trace": per_trace,
        "average": avg,
        "done_when": bar,
        "hpa_frontiers": frontiers,
        "windows": report["config"].get("window_start_offsets_s"),
    }


def generalisation_quality(policy_spec: str, seeds: int) -> dict[str, Any]:
    """Traces outside the issue's test triple that no training window came from, each whole
    (the Alibaba gateway's test part is shorter than 6 h): the gateway and synthetic patterns
    at seeds training never draws. A standing check that a change helping the three test
    traces does not hurt elsewhere."""
    report = _evaluate(policy_spec, GENERALISATION_TRACES, seeds, None, None)
    hpa = _per_trace(report, "hpa")
    return {
        trace: {**scores, "hpa_default": {k: hpa[trace][k] for k in ("slo_violation_rate", "cost_usd")}}
        for trace, scores in _per_trace(report, policy_spec).items()
    }


#: Issue 13's budget view: the test parts of the real traces in long windows (a deployed scaler
#: has days of history; a 6-h window scores its first burst, which no history could foresee),
#: the gateway's test part and synthetic patterns at evaluation seeds, budgets 0.5/1/2 %.
BUDGETS = (0.005, 0.01, 0.02)
BUDGET_WINDOWED = ("nasa", "twitter", "twitter-15s", "alibaba-lora")
#: Whole traces (gaps masked): the gateway's test part is 70 % gaps, so its whole 22 h are
#: scored as in the generalisation check; synthetic patterns at seeds training never draws.
BUDGET_WHOLE = ("alibaba-gateway", "synthetic:flash-crowd?seed=1000001", "synthetic:bursty?seed=1000002")
#: Issue 13: one hour of warm-up (every trace here is longer than 4 h).
WARMUP_HOURS = 1.0


def _budget_rows(report: dict[str, Any], policy_prefix: str) -> dict[str, dict[str, Any]]:
    """Per trace and budget: the policy row's budget object and its violation rate."""
    out: dict[str, dict[str, Any]] = {}
    for row in report["results"]:
        if not row["policy"].startswith(policy_prefix):
            continue
        for b in row.get("budgets", []):
            out.setdefault(row["trace"], {})[f"{b['slo_budget']:g}"] = {
                "policy": row["policy"],
                "slo_violation_rate": _mean(row["slo_violation_rate"]),
                "budget_kept": b["budget_kept"],
                "seeds_kept": b["seeds_kept"],
                "cost_vs_tuned_hpa": _mean(b["cost_vs_tuned_hpa"]),
                "tuned_hpa_policy": b["tuned_hpa_policy"],
            }
    return out


def budget_quality(
    policy_spec: str, seeds: int, windows: int, window_hours: float, traces: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """The SLO-budget view (issue 13 Done-when): per trace and budget, whether the policy kept
    the budget and its cost against the HPA tuned in hindsight for that trace and budget."""
    whole = windows == 0
    groups = [
        (t, None if whole else windows, None if whole else window_hours, WARMUP_HOURS)
        for t in BUDGET_WINDOWED
    ] + [(t, None, None, WARMUP_HOURS) for t in BUDGET_WHOLE]
    per_trace: dict[str, dict[str, Any]] = {}
    for trace, n_windows, hours, warmup in groups:
        if traces is not None and trace not in traces:
            continue
        cfg = EvaluateConfig(
            traces=[trace],
            policies=[policy_spec, "hpa"],
            service="web",
            seeds=seeds,
            windows=n_windows,
            window_hours=hours,
            warmup_hours=warmup,
            slo_budgets=list(BUDGETS),
            command=f"bench/quality.py budget ({policy_spec})",
        )
        report, _ = run(prepare(cfg))
        per_trace.update(_budget_rows(report, policy_spec.split(":")[0]))
        for t, rows in _budget_rows(report, "hpa").items():
            for b, obj in rows.items():
                if obj["policy"] == "hpa":
                    per_trace[t][b]["hpa_default"] = {
                        k: obj[k] for k in ("slo_violation_rate", "budget_kept", "cost_vs_tuned_hpa")
                    }
    return budget_summary(per_trace)


def budget_summary(per_trace: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cells kept, mean and worst cost against the tuned HPA, and issue 13's bar, over every
    trace x budget cell of ``per_trace``."""
    cells = [c for rows in per_trace.values() for c in rows.values()]
    ratios = [c["cost_vs_tuned_hpa"] for c in cells if c["cost_vs_tuned_hpa"] is not None]
    return {
        "budgets": list(BUDGETS),
        "per_trace": per_trace,
        "cells": len(cells),
        "kept": sum(bool(c["budget_kept"]) for c in cells),
        "mean_cost_vs_tuned_hpa": float(np.mean(ratios)) if ratios else None,
        "worst_cost_vs_tuned_hpa": float(np.max(ratios)) if ratios else None,
        "done_when": {
            "every_budget_kept": all(c["budget_kept"] for c in cells),
            "every_cost_vs_tuned_hpa_le_1": all(r <= 1.0 for r in ratios) and len(ratios) == len(cells),
            "mean_cost_vs_tuned_hpa_le_0_85": bool(ratios) and float(np.mean(ratios)) <= 0.85,
        },
    }


def lipari_quality(policy_spec: str, steps: int) -> dict[str, Any]:
    """Seed 000's workload and simulator setting, its per-step violation definition."""
    params = get_preset("lipari2025")
    trace = EvalTrace("synthetic:seed000", seed000(steps, params.step_s)[None, :])
    entries, _ = resolve_policies([policy_spec, "hpa:target=60"], params.spec)
    rows = {}
    for r in evaluate(params, [trace], entries, seeds=1):
        tl = r.timeline
        lat = tl.latency_mean_s if tl is not None else None
        rows[r.policy] = {
            "slo_violation_rate_steps": float(np.mean(lat > params.spec.slo_latency_s))
            if lat is not None
            else None,
            "slo_violation_rate_requests": float(r.per_seed["slo_violation_rate"][0]),
            "avg_replicas": float(r.per_seed["avg_replicas"][0]),
        }
    ours = rows[entries[0].label]
    return {
        "workload": f"seed000 generator, {steps} steps of 15 s",
        "seed000_published_dqn": SEED000_DQN,
        "results": rows,
        "fewer_violations_than_seed000_dqn": ours["slo_violation_rate_steps"]
        < SEED000_DQN["slo_violation_rate_steps"][0],
        "no_more_replicas_than_seed000_dqn": ours["avg_replicas"] <= SEED000_DQN["avg_replicas"][0],
    }


def decision_latency(path: str | None, calls: int = 3000) -> dict[str, float]:
    """Wall time of one live decision (observation + network + decode), one service."""
    from rlscale.core.signals import ScalingSignals

    spec = load_service("web").spec
    policy = LearnedPolicy(spec, 1, path)
    rng = np.random.default_rng(0)
    times = []
    for i in range(calls):
        sig = ScalingSignals.single(
            time_s=15.0 * i,
            desired_replicas=5,
            ready_replicas=5,
            pending_replicas=0,
            request_rate_rps=float(rng.uniform(100, 900)),
            cpu_utilization=0.6,
            latency_p95_s=0.05,
            backlog_requests=0.0,
            dropped_rps=0.0,
        )
        t0 = time.perf_counter()
        policy.act(sig)
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times[100:]) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "target_p99_ms": 2.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", default=None, help="checkpoint dir (default: the shipped policy)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--window-hours", type=float, default=6.0)
    ap.add_argument("--lipari-steps", type=int, default=16_600)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--only",
        choices=("all", "budget", "frontier"),
        default="all",
        help="budget: only the SLO-budget view (issue 13); frontier: all but it",
    )
    ap.add_argument(
        "--budget-traces", nargs="*", default=None, help="restrict the budget view to these traces"
    )
    ap.add_argument(
        "--budget-windows",
        type=int,
        default=0,
        help="0 (default): each test part whole, as issue 13 states; N: N windows of the long traces",
    )
    ap.add_argument("--budget-window-hours", type=float, default=20.0)
    ap.add_argument(
        "--lipari-checkpoint",
        default=None,
        help="policy trained on the lipari2025 preset (default: packaged data/policies/lipari2025)",
    )
    args = ap.parse_args()
    lipari_ck = args.lipari_checkpoint
    if lipari_ck is None:
        packaged = default_policy_path().parent / "lipari2025"
        lipari_ck = str(packaged) if (packaged / "metadata.json").exists() else None
    spec = "learned" if args.checkpoint is None else f"learned:{args.checkpoint}"
    path = args.checkpoint or str(default_policy_path())
    meta = json.loads(open(f"{path}/metadata.json", encoding="utf-8").read())
    out: dict[str, Any] = {
        "bench": "quality",
        "policy": spec,
        "training_command": meta["training"].get("command"),
        "training_seconds": meta["training"].get("train_seconds"),
        "seeds": args.seeds,
    }
    if args.only in ("all", "budget"):
        out["budget"] = budget_quality(
            spec,
            args.seeds,
            args.budget_windows,
            args.budget_window_hours,
            None if args.budget_traces is None else tuple(args.budget_traces),
        )
    if args.only == "budget":
        _emit(out, args.out)
        return
    out |= {
        "web": web_quality(spec, args.seeds, args.windows, args.window_hours),
        "generalisation": generalisation_quality(spec, args.seeds),
        "lipari2025": lipari_quality(spec, args.lipari_steps),
        "lipari2025_trained_on_preset": None
        if lipari_ck is None
        else {
            "checkpoint": lipari_ck,
            "training_command": json.loads(open(f"{lipari_ck}/metadata.json", encoding="utf-8").read())[
                "training"
            ].get("command"),
            **lipari_quality(f"learned:{lipari_ck}", args.lipari_steps),
        },
        "decision_latency": decision_latency(args.checkpoint),
    }
    _emit(out, args.out)


def _emit(out: dict[str, Any], path: str | None) -> None:
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
