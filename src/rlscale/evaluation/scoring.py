"""Scores of every policy against the HPA frontier and the oracle, with CIs over seeds.

Seeds are paired: every policy saw the same arrivals for a given (window, seed) (common
random numbers), so each seed gets its own frontier (from the HPA sweep's results for that
seed) and its own score, and the mean and 95 % CI are taken over those per-seed scores. When
a score is undefined for some seed (e.g. the policy has more violations than every HPA
setting of that seed), it is computed once from the seed-mean points instead, without a CI,
and a note says so.
"""

from __future__ import annotations

from collections.abc import Callable

from rlscale.evaluation import frontier as fr
from rlscale.evaluation.metrics import mean_ci95
from rlscale.evaluation.results import PolicyResult

ORACLE_POLICY = "oracle"

Stat = dict[str, float | None]


def frontier_results(results: list[PolicyResult], trace: str) -> list[PolicyResult]:
    """The hpa-frontier sweep's results for ``trace``, by increasing target."""
    pts = [r for r in results if r.trace == trace and r.frontier_target_pct is not None]
    return sorted(pts, key=lambda r: float(r.frontier_target_pct or 0.0))


def oracle_result(results: list[PolicyResult], trace: str) -> PolicyResult | None:
    for r in results:
        if r.trace == trace and r.policy == ORACLE_POLICY:
            return r
    return None


def mean_frontier(sweep: list[PolicyResult]) -> tuple[list[fr.FrontierPoint], list[fr.FrontierPoint]]:
    """All seed-mean frontier points and their Pareto-optimal subset."""
    points = [
        fr.FrontierPoint(
            float(r.frontier_target_pct or 0.0), r.mean("slo_violation_rate"), r.mean("cost_usd")
        )
        for r in sweep
    ]
    return points, fr.pareto_front(points)


def _seed_front(sweep: list[PolicyResult], seed: int) -> list[fr.FrontierPoint]:
    return fr.pareto_front(
        fr.FrontierPoint(
            float(r.frontier_target_pct or 0.0),
            float(r.per_seed["slo_violation_rate"][seed]),
            float(r.per_seed["cost_usd"][seed]),
        )
        for r in sweep
    )


def _paired(
    name: str,
    n_seeds: int,
    per_seed: Callable[[int], fr.Score],
    on_means: Callable[[], fr.Score],
    notes: list[str],
) -> Stat:
    scores = [per_seed(i) for i in range(n_seeds)]
    if all(s.value is not None for s in scores):
        for note in {s.note for s in scores if s.note}:
            notes.append(f"{name}: {note}")
        return mean_ci95([float(s.value) for s in scores if s.value is not None])
    agg = on_means()
    if agg.value is None:
        notes.append(f"{name} is null: {agg.note}")
        return {"mean": None, "ci95": None}
    undefined = sum(s.value is None for s in scores)
    notes.append(
        f"{name}: undefined for {undefined} of {n_seeds} seeds, computed from the seed means (no CI)"
        + (f"; {agg.note}" if agg.note else "")
    )
    return {"mean": float(agg.value), "ci95": None}


def score_result(result: PolicyResult, results: list[PolicyResult]) -> tuple[dict[str, Stat], list[str]]:
    """``cost_vs_hpa_frontier``, ``cost_vs_oracle`` and ``hpa_oracle_gap_closed`` for one result."""
    notes: list[str] = []
    sweep = frontier_results(results, result.trace)
    oracle = oracle_result(results, result.trace)
    n = result.seeds
    v = result.per_seed["slo_violation_rate"]
    c = result.per_seed["cost_usd"]
    if sweep and any(r.seeds != n for r in sweep):
        raise ValueError(f"scoring {result.policy!r}: the HPA sweep ran with a different number of seeds")
    if oracle is not None and oracle.seeds != n:
        raise ValueError(f"scoring {result.policy!r}: the oracle ran with a different number of seeds")
    _, mean_front = mean_frontier(sweep)
    oracle_seed = (
        (lambda i: float(oracle.per_seed["cost_usd"][i])) if oracle is not None else (lambda i: None)
    )
    oracle_mean = oracle.mean("cost_usd") if oracle is not None else None
    out: dict[str, Stat] = {}
    out["cost_vs_hpa_frontier"] = _paired(
        "cost_vs_hpa_frontier",
        n,
        lambda i: fr.cost_vs_hpa_frontier(float(v[i]), float(c[i]), _seed_front(sweep, i)),
        lambda: fr.cost_vs_hpa_frontier(
            result.mean("slo_violation_rate"), result.mean("cost_usd"), mean_front
        ),
        notes,
    )
    out["cost_vs_oracle"] = _paired(
        "cost_vs_oracle",
        n,
        lambda i: fr.cost_vs_oracle(float(c[i]), oracle_seed(i)),
        lambda: fr.cost_vs_oracle(result.mean("cost_usd"), oracle_mean),
        notes,
    )
    out["hpa_oracle_gap_closed"] = _paired(
        "hpa_oracle_gap_closed",
        n,
        lambda i: fr.hpa_oracle_gap_closed(float(v[i]), float(c[i]), _seed_front(sweep, i), oracle_seed(i)),
        lambda: fr.hpa_oracle_gap_closed(
            result.mean("slo_violation_rate"), result.mean("cost_usd"), mean_front, oracle_mean
        ),
        notes,
    )
    # one note per distinct cause is enough
    return out, list(dict.fromkeys(notes))


def is_on_frontier(points: list[fr.FrontierPoint], front: list[fr.FrontierPoint]) -> list[bool]:
    keys = {(p.target_pct, p.slo_violation_rate, p.cost_usd) for p in front}
    return [(p.target_pct, p.slo_violation_rate, p.cost_usd) in keys for p in points]


def frontier_summary(results: list[PolicyResult], trace: str) -> list[dict[str, object]]:
    """The frontier points of ``trace`` for report.json (seed means, with CIs and Pareto flag)."""
    sweep = frontier_results(results, trace)
    points, front = mean_frontier(sweep)
    flags = is_on_frontier(points, front)
    out: list[dict[str, object]] = []
    for r, p, on in zip(sweep, points, flags, strict=True):
        out.append(
            {
                "target_pct": p.target_pct,
                "slo_violation_rate": mean_ci95(r.per_seed["slo_violation_rate"]),
                "cost_usd": mean_ci95(r.per_seed["cost_usd"]),
                "pareto": bool(on),
            }
        )
    return out
