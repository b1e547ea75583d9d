"""The HPA cost-vs-violation frontier and the scores read against it (issue 3, DESIGN.md §7).

A single HPA setting is one point of a trade-off; a fair baseline is the HPA *tuned* for the
violation rate you accept. ``hpa-frontier`` sweeps the HPA target utilisation (40–95 %, the
range operators use in practice), each setting gives a (violation rate, cost) point, and the
Pareto-optimal points form the frontier. A policy is then scored by its cost against the
frontier's cost at the same violation rate, and against the clairvoyant oracle (the lower
bound on cost, the "physical limit").

All functions are pure and work on plain floats so they can be tested on hand-made frontiers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: HPA target utilisations swept by ``hpa-frontier``, percent. 40–95 % in steps of 5 (issue 3).
FRONTIER_TARGETS_PCT: tuple[int, ...] = tuple(range(40, 96, 5))


@dataclass(frozen=True)
class FrontierPoint:
    """One HPA setting's outcome: mean SLO violation rate (fraction) and mean cost (USD)."""

    target_pct: float
    slo_violation_rate: float
    cost_usd: float

    def to_dict(self) -> dict[str, float]:
        return {
            "target_pct": float(self.target_pct),
            "slo_violation_rate": float(self.slo_violation_rate),
            "cost_usd": float(self.cost_usd),
        }


@dataclass(frozen=True)
class Score:
    """A frontier-based score: ``value`` is None when undefined, ``note`` says why."""

    value: float | None
    note: str | None = None


def pareto_front(points: Iterable[FrontierPoint]) -> list[FrontierPoint]:
    """The Pareto-optimal points (no other point has both fewer-or-equal violations and
    lower-or-equal cost, one strictly), sorted by increasing violation rate, hence by
    strictly decreasing cost."""
    pts = sorted(points, key=lambda p: (p.slo_violation_rate, p.cost_usd))
    front: list[FrontierPoint] = []
    for p in pts:
        if not (np.isfinite(p.slo_violation_rate) and np.isfinite(p.cost_usd)):
            continue
        if front and p.cost_usd >= front[-1].cost_usd:
            continue  # dominated: an earlier point has fewer-or-equal violations and no higher cost
        front.append(p)
    return front


def frontier_cost_at(front: list[FrontierPoint], violation_rate: float) -> Score:
    """The frontier's cost at ``violation_rate`` (linear interpolation between the two
    neighbouring Pareto points).

    Below the frontier's fewest violations the cost of the setting with the fewest violations
    is used (so a ratio ≤ 1 against it means beating the whole frontier); above its most
    violations the cost is undefined (the HPA was never that bad, any comparison would be
    an extrapolation).
    """
    if not front:
        return Score(None, "no HPA frontier (run with --policy hpa-frontier)")
    if not np.isfinite(violation_rate):
        return Score(None, "the policy's violation rate is undefined")
    v = np.array([p.slo_violation_rate for p in front])
    c = np.array([p.cost_usd for p in front])
    if violation_rate < v[0]:
        return Score(
            float(c[0]),
            f"fewer violations than every HPA setting; compared with the setting with the fewest "
            f"(target {front[0].target_pct:g} %)",
        )
    if violation_rate > v[-1]:
        return Score(
            None,
            f"more violations ({violation_rate:.4%}) than every HPA setting "
            f"(max {v[-1]:.4%}): no frontier cost at that rate",
        )
    return Score(float(np.interp(violation_rate, v, c)))


def cost_vs_hpa_frontier(
    policy_violation: float, policy_cost_usd: float, front: list[FrontierPoint]
) -> Score:
    """Policy cost / frontier cost at the policy's violation rate (< 1: cheaper than a tuned HPA)."""
    ref = frontier_cost_at(front, policy_violation)
    if ref.value is None:
        return ref
    if ref.value <= 0:
        return Score(None, "the HPA frontier's cost is zero at this violation rate")
    return Score(policy_cost_usd / ref.value, ref.note)


def cost_vs_oracle(policy_cost_usd: float, oracle_cost_usd: float | None) -> Score:
    """Policy cost / oracle cost (≥ 1 for any policy that is not clairvoyant)."""
    if oracle_cost_usd is None or not np.isfinite(oracle_cost_usd):
        return Score(None, "no oracle result")
    if oracle_cost_usd <= 0:
        return Score(None, "the oracle's cost is zero")
    return Score(policy_cost_usd / oracle_cost_usd)


def hpa_oracle_gap_closed(
    policy_violation: float,
    policy_cost_usd: float,
    front: list[FrontierPoint],
    oracle_cost_usd: float | None,
) -> Score:
    """``(F − c) / (F − o)`` with ``F`` the frontier cost at the policy's violation rate, ``c``
    the policy's cost and ``o`` the oracle's: the share of the distance from the tuned HPA to
    the physical limit that the policy covers (1 = as cheap as the oracle, 0 = no better than
    the tuned HPA, < 0 = worse)."""
    ref = frontier_cost_at(front, policy_violation)
    if ref.value is None:
        return ref
    if oracle_cost_usd is None or not np.isfinite(oracle_cost_usd):
        return Score(None, "no oracle result")
    gap = ref.value - oracle_cost_usd
    if gap <= 0:
        return Score(None, "the HPA frontier is not more expensive than the oracle here: no gap to close")
    return Score((ref.value - policy_cost_usd) / gap, ref.note)
