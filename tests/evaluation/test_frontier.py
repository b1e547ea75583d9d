"""The HPA frontier and the scores read against it, on hand-made frontiers."""

from __future__ import annotations

import pytest

from rlscale.evaluation.frontier import (
    FRONTIER_TARGETS_PCT,
    FrontierPoint,
    cost_vs_hpa_frontier,
    cost_vs_oracle,
    frontier_cost_at,
    hpa_oracle_gap_closed,
    pareto_front,
)

POINTS = [
    FrontierPoint(40, 0.001, 10.0),
    FrontierPoint(50, 0.004, 8.0),
    FrontierPoint(60, 0.003, 9.0),  # Pareto: fewer violations than 50, dearer
    FrontierPoint(70, 0.010, 6.0),
    FrontierPoint(80, 0.012, 7.0),  # dominated by 70
    FrontierPoint(90, 0.030, 5.0),
]


def test_targets_cover_40_to_95() -> None:
    assert (
        FRONTIER_TARGETS_PCT[0] == 40 and FRONTIER_TARGETS_PCT[-1] == 95 and len(FRONTIER_TARGETS_PCT) == 12
    )


def test_pareto_front_drops_dominated() -> None:
    front = pareto_front(POINTS)
    assert [p.target_pct for p in front] == [40, 60, 50, 70, 90]
    costs = [p.cost_usd for p in front]
    assert costs == sorted(costs, reverse=True)


def test_pareto_equal_violation_keeps_cheapest() -> None:
    front = pareto_front([FrontierPoint(1, 0.01, 5.0), FrontierPoint(2, 0.01, 4.0)])
    assert [p.target_pct for p in front] == [2]


def test_frontier_cost_interpolates_linearly() -> None:
    front = pareto_front(POINTS)
    # between (0.004, 8) and (0.010, 6): at 0.007 -> 7
    assert frontier_cost_at(front, 0.007).value == pytest.approx(7.0)
    assert frontier_cost_at(front, 0.030).value == pytest.approx(5.0)


def test_cost_vs_frontier_cases() -> None:
    front = pareto_front(POINTS)
    s = cost_vs_hpa_frontier(0.007, 3.5, front)
    assert s.value == pytest.approx(0.5) and s.note is None
    # fewer violations than every setting: compare to the fewest-violation setting (cost 10)
    s = cost_vs_hpa_frontier(0.0, 9.0, front)
    assert s.value == pytest.approx(0.9) and "fewest" in (s.note or "")
    # more violations than every setting: null with a note
    s = cost_vs_hpa_frontier(0.05, 1.0, front)
    assert s.value is None and "more violations" in (s.note or "")
    assert cost_vs_hpa_frontier(0.01, 1.0, []).value is None


def test_cost_vs_oracle() -> None:
    assert cost_vs_oracle(6.0, 4.0).value == pytest.approx(1.5)
    assert cost_vs_oracle(6.0, None).value is None
    assert cost_vs_oracle(6.0, 0.0).value is None


def test_gap_closed() -> None:
    front = pareto_front(POINTS)
    # F(0.007) = 7, oracle 3: policy at 5 closes half the gap
    assert hpa_oracle_gap_closed(0.007, 5.0, front, 3.0).value == pytest.approx(0.5)
    assert hpa_oracle_gap_closed(0.007, 3.0, front, 3.0).value == pytest.approx(1.0)
    assert hpa_oracle_gap_closed(0.007, 8.0, front, 3.0).value == pytest.approx(-0.25)
    assert hpa_oracle_gap_closed(0.05, 5.0, front, 3.0).value is None
    assert hpa_oracle_gap_closed(0.007, 5.0, front, 7.5).value is None
