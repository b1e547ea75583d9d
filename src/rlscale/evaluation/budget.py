"""The SLO-budget view of an evaluation (DESIGN.md §7, issue 13 item 4).

A user states a budget B (e.g. 1 % of requests over the latency SLO or dropped). The judge
for B on a trace is the **HPA tuned in hindsight**: the cheapest of ``hpa:target=T`` (T =
10, 15, …, 95 %) and ``static:replicas=N`` (every N in [min, max]) whose mean violation rate
over the seeds, on the same scored windows and arrivals, is at most B. The static sweep makes
the reference exist whenever any fixed fleet keeps B. A policy *keeps* B when its own mean
violation rate is at most B; its cost is read against the reference seed by seed (the seeds
pair: common random numbers), ``cost_vs_tuned_hpa`` = mean ± 95 % CI of those ratios.

Pure functions on :class:`~rlscale.evaluation.results.PolicyResult` lists, testable on
hand-made results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.evaluation.metrics import mean_ci95
from rlscale.evaluation.results import PolicyResult

#: HPA targets of the tuned-HPA reference, percent (issue 13: 10–95 in steps of 5; wider than
#: the 40–95 % frontier because a tight budget on a bursty trace needs a lot of headroom).
TUNED_HPA_TARGETS_PCT: tuple[int, ...] = tuple(range(10, 96, 5))


def reference_specs(spec: ServiceSpec) -> list[str]:
    """The policy specs the tuned-HPA reference chooses from, for ``spec``'s replica range."""
    hpa = [f"hpa:target={t}" for t in TUNED_HPA_TARGETS_PCT]
    static = [f"static:replicas={n}" for n in range(max(spec.min_replicas, 1), spec.max_replicas + 1)]
    return hpa + static


def check_budgets(budgets: list[float] | tuple[float, ...]) -> list[float]:
    """Distinct budgets in increasing order; ValueError names a bad one."""
    for b in budgets:
        if not (np.isfinite(b) and 0 < b < 1):
            raise ValueError(f"--slo-budget must be a fraction in (0, 1), e.g. 0.01 for 1 %, got {b}")
    return sorted(set(float(b) for b in budgets))


@dataclass(frozen=True)
class TunedReference:
    """The cheapest reference policy keeping a budget on one trace."""

    policy: str
    slo_violation_rate: float  # seed mean
    cost_usd: float  # seed mean
    cost_per_seed: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "slo_violation_rate": float(self.slo_violation_rate),
            "cost_usd": float(self.cost_usd),
        }


def tuned_reference(candidates: list[PolicyResult], budget: float) -> TunedReference | None:
    """The cheapest candidate whose mean violation rate is at most ``budget`` (ties: fewer
    violations); None when no candidate keeps it."""
    kept = [r for r in candidates if r.mean("slo_violation_rate") <= budget]
    if not kept:
        return None
    best = min(kept, key=lambda r: (r.mean("cost_usd"), r.mean("slo_violation_rate")))
    return TunedReference(
        best.policy, best.mean("slo_violation_rate"), best.mean("cost_usd"), best.per_seed["cost_usd"]
    )


def budget_object(result: PolicyResult, budget: float, reference: TunedReference | None) -> dict[str, Any]:
    """The ``"budgets"`` entry of one report row for one budget."""
    v = result.per_seed["slo_violation_rate"]
    out: dict[str, Any] = {
        "slo_budget": budget,
        "budget_kept": bool(np.mean(v) <= budget),
        "seeds_kept": float(np.mean(v <= budget)),
        "cost_vs_tuned_hpa": {"mean": None, "ci95": None},
        "tuned_hpa_policy": None if reference is None else reference.policy,
    }
    if reference is not None and np.all(reference.cost_per_seed > 0):
        out["cost_vs_tuned_hpa"] = mean_ci95(result.per_seed["cost_usd"] / reference.cost_per_seed)
    return out


def reference_labels(results: list[PolicyResult], trace: str, labels: set[str]) -> list[PolicyResult]:
    """The results of ``trace`` whose policy is one of the reference ``labels``."""
    return [r for r in results if r.trace == trace and r.policy in labels]
