"""Validation the way ``rlscale evaluate`` scores, on windows carved from the TRAINING splits.

:func:`score` is what training selects its best model by (each validation run of
:mod:`rlscale.agents.train`); :func:`score_policies` scores finished policies the same way.

Model selection must never look at the test windows (NASA August, the last week of Twitter,
the last days of Alibaba LoRA). This module cuts ``rlscale evaluate``-style windows (same
length, same oracle warm start, common random numbers, HPA frontier and oracle scores) from
the last ``val_fraction`` of each named trace's *train* part — the same validation part
:func:`rlscale.agents.data.build_windows` keeps out of training — rescaled by the train
part's own peak (so nothing about the test part leaks in, not even its maximum).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlscale.agents.rollout import RolloutResult, run_policy
from rlscale.core.spec import DEFAULT_SERVICE
from rlscale.evaluation.frontier import (
    FRONTIER_TARGETS_PCT,
    FrontierPoint,
    cost_vs_hpa_frontier,
    pareto_front,
)
from rlscale.evaluation.report import build_report
from rlscale.evaluation.runner import EvalTrace, PolicyEntry, evaluate
from rlscale.evaluation.specs import resolve_policies
from rlscale.policies.hpa import HPAPolicy
from rlscale.sim.params import ServiceParams
from rlscale.workload import split, standard_split
from rlscale.workload.transform import DEFAULT_PEAK_FRACTION, rescale_factor, window_starts

#: The real traces whose test parts issue 4 scores on; validation uses their train parts.
VALIDATION_TRACES: tuple[str, ...] = ("nasa", "twitter-15s", "alibaba-lora")
#: Fraction of each train part held out for validation (= agents.data.build_windows default).
VAL_FRACTION = 0.15
#: Fixed window draw, distinct from evaluation's WINDOW_SEED = 0.
VALIDATION_WINDOW_SEED = 7
#: Violation rate the policy must stay under (issue 4 "Done when").
VIOLATION_BUDGET = 0.01
SCORE_KEYS = (
    "slo_violation_rate",
    "cost_usd",
    "cost_vs_hpa_frontier",
    "cost_vs_oracle",
    "hpa_oracle_gap_closed",
)


def validation_traces(
    params: ServiceParams,
    names: Sequence[str] = VALIDATION_TRACES,
    *,
    windows: int = 2,
    window_hours: float = 6.0,
    val_fraction: float = VAL_FRACTION,
) -> list[EvalTrace]:
    """``windows`` gap-free windows of ``window_hours`` from each trace's validation part."""
    spec = params.spec
    capacity = float(np.mean(params.mu_rps))
    steps = round(window_hours * 3600.0 / params.step_s)
    out = []
    for name in names:
        train, _test = standard_split(name, step_s=params.step_s)  # the test part is never read
        _fit, val = split(train, test_fraction=val_fraction)
        factor = rescale_factor(
            train.rate_rps, capacity, spec.max_replicas, DEFAULT_PEAK_FRACTION, valid=train.valid
        )
        starts = window_starts(val, steps, count=windows, rng=VALIDATION_WINDOW_SEED)
        rates = np.stack([val.rate_rps[s : s + steps] for s in starts]) * factor
        out.append(
            EvalTrace(
                name=f"{name}:validation",
                rates_rps=rates,
                start_offsets_s=val.start_offset_s + starts * params.step_s,
            )
        )
    return out


def score_policies(
    params: ServiceParams,
    traces: list[EvalTrace],
    entries: Sequence[PolicyEntry],
    *,
    seeds: int = 2,
    service_name: str = DEFAULT_SERVICE,
) -> dict[str, Any]:
    """Run ``entries`` with the HPA frontier and the oracle on ``traces``; returns
    ``{"per_trace": {trace: {label: scores}}, "average": {label: scores}}`` (means over seeds;
    a score undefined on a trace makes its average None)."""
    base, _ = resolve_policies(["hpa-frontier", "oracle"], params.spec)
    results = evaluate(params, traces, [*entries, *base], seeds)
    report = build_report(service={"preset": service_name}, seeds=seeds, results=results, config={}, notes=[])
    labels = [e.label for e in entries]
    per_trace: dict[str, dict[str, Any]] = {}
    for row in report["results"]:
        if row["policy"] not in labels:
            continue
        per_trace.setdefault(row["trace"], {})[row["policy"]] = {
            k: (row[k]["mean"] if isinstance(row.get(k), dict) else row.get(k)) for k in SCORE_KEYS
        }
    average: dict[str, Any] = {}
    for label in labels:
        avg = {}
        for k in SCORE_KEYS:
            vals = [t[label][k] for t in per_trace.values() if label in t]
            avg[k] = float(np.mean(vals)) if vals and all(v is not None for v in vals) else None
        avg["max_violation_rate"] = max(
            (t[label]["slo_violation_rate"] for t in per_trace.values() if label in t), default=None
        )
        average[label] = avg
    return {"per_trace": per_trace, "average": average}


# ------------------------------------------------- during training (agents.train)
def score(result: RolloutResult, front: list[Any]) -> dict[str, Any]:
    """Validation score: cost against the HPA frontier (evaluation.frontier), with the
    violation budget as a hard constraint (a model over budget never beats one under it)."""
    viol, cost = result.violation_rate, result.cost_usd
    ratio = cost_vs_hpa_frontier(viol, cost, front).value
    feasible = viol <= VIOLATION_BUDGET and ratio is not None
    key = (0 if feasible else 1, ratio if ratio is not None else 10.0 + viol)
    return {
        "violation_rate": viol,
        "cost_usd": cost,
        "cost_vs_hpa_frontier": ratio,
        "reward": float(result.reward.mean()),
        "feasible": feasible,
        "key": list(key),
    }


def hpa_frontier(
    params: Any, windows: list[np.ndarray], rfn: Any, seed: int
) -> tuple[list[Any], dict[str, Any]]:
    """The HPA frontier on training's validation windows (the reference :func:`score` reads
    against), with each target's mean reward."""
    points, rewards = [], {}
    for pct in FRONTIER_TARGETS_PCT:
        r = run_policy(
            params,
            lambda s, n, p=pct: HPAPolicy(s, n, target_utilization_pct=p),
            windows,
            seed=seed,
            reward_fn=rfn,
        )
        points.append(FrontierPoint(pct, r.violation_rate, r.cost_usd))
        rewards[pct] = float(r.reward.mean())
    return pareto_front(points), {"points": [p.to_dict() for p in points], "reward_by_target": rewards}
