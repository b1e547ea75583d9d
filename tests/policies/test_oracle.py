"""The oracle planner: coverage, optimality by exhaustive search, replay."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.policies.oracle import (
    OraclePolicy,
    forward_window_max,
    plan_oracle_schedule,
    ready_replicas_of_schedule,
)


def brute_force_min_cost(demand: np.ndarray, startup_steps: int) -> int:
    top = int(demand.max()) + 1
    best = None
    for sched in itertools.product(range(top + 1), repeat=len(demand)):
        s = np.array(sched)
        if np.all(ready_replicas_of_schedule(s, startup_steps) >= demand):
            cost = int(s.sum())
            best = cost if best is None else min(best, cost)
    assert best is not None
    return best


def test_hand_example() -> None:
    d = np.array([1, 1, 3, 1, 1, 1, 1, 2, 1, 1])
    plan = plan_oracle_schedule(d, 2, 0, 10)
    # layer 3 is needed at t=2 only: created at t=0 (warm); layer 2 at t=7: created at t=5
    assert plan.tolist() == [3, 3, 3, 1, 1, 2, 2, 2, 1, 1]
    assert np.all(ready_replicas_of_schedule(plan, 2) >= d)


def test_short_gaps_keep_the_pod_long_gaps_recreate_it() -> None:
    # layer 2: needed at t=1 and t=4 (gap 2 <= D=2: kept), then t=9 (gap 4 > 2: removed, recreated at 7)
    d = np.array([1, 2, 1, 1, 2, 1, 1, 1, 1, 2, 1])
    plan = plan_oracle_schedule(d, 2, 1, 10)
    assert plan.tolist() == [2, 2, 2, 2, 2, 1, 1, 2, 2, 2, 1]


def test_zero_delay_is_the_demand_itself() -> None:
    d = np.array([0, 3, 1, 4, 2])
    assert plan_oracle_schedule(d, 0, 0, 10).tolist() == d.tolist()


def test_clipping_to_min_and_max() -> None:
    d = np.array([0, 0, 9, 0])
    assert plan_oracle_schedule(d, 1, 1, 5).tolist() == [1, 5, 5, 1]


@pytest.mark.parametrize("seed", range(40))
def test_plan_covers_demand_and_no_schedule_is_cheaper(seed: int) -> None:
    rng = np.random.default_rng(seed)
    horizon = int(rng.integers(1, 6))
    delay = int(rng.integers(0, 3))
    d = rng.integers(0, 3, horizon)
    plan = plan_oracle_schedule(d, delay, 0, 10)
    assert np.all(ready_replicas_of_schedule(plan, delay) >= d)
    assert int(plan.sum()) <= brute_force_min_cost(d, delay)


def test_plan_is_pointwise_lower_bound_on_random_long_series() -> None:
    rng = np.random.default_rng(11)
    d = rng.integers(0, 20, 400)
    plan = plan_oracle_schedule(d, 4, 0, 50)
    assert np.all(ready_replicas_of_schedule(plan, 4) >= d)
    for t in range(len(d)):  # no feasible schedule can hold fewer pods at t than max(d[t..t+D])
        assert plan[t] == d[t : t + 5].max()


def test_forward_window_max_matches_naive() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 100, 257)
    for width in (1, 2, 3, 5, 8, 13, 64, 300):
        naive = np.array([x[t : t + width].max() for t in range(len(x))])
        assert forward_window_max(x, width).tolist() == naive.tolist()


def test_long_series_shape() -> None:
    d = np.random.default_rng(0).integers(0, 20, 100_000)
    plan = plan_oracle_schedule(d, 6, 1, 20)
    assert plan.shape == d.shape and plan.dtype == np.int64
    assert np.all(plan >= np.maximum(d, 1))


def test_bad_demand_is_named() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        plan_oracle_schedule(np.array([1, -1]), 1, 0, 5)
    with pytest.raises(ValueError, match="1-D"):
        plan_oracle_schedule(np.ones((2, 2)), 1, 0, 5)
    with pytest.raises(ValueError, match="startup_steps"):
        plan_oracle_schedule(np.array([1]), -1, 0, 5)


def test_startup_delay_steps() -> None:
    steps = [ServiceSpec("s", 10.0, 0.5, startup_delay_s=d).startup_delay_steps for d in (45.0, 46.0, 0.0)]
    assert steps == [3, 4, 0]
    with pytest.raises(ValueError, match="startup_delay_s must be >= 0"):
        ServiceSpec("s", 10.0, 0.5, startup_delay_s=-1.0)


def test_oracle_policy_replays_and_resets(service: ServiceSpec) -> None:
    pol = OraclePolicy(service, 2, [np.array([3, 4, 5]), np.array([7, 6])])
    assert isinstance(pol, Policy)
    s = make_signals(2)
    assert pol.act(s).tolist() == [3, 7]
    assert pol.act(s).tolist() == [4, 6]
    assert pol.act(s).tolist() == [5, 6]  # env 1 holds its last value
    pol.reset(np.array([True, False]))
    assert pol.act(s).tolist() == [3, 6]
    with pytest.raises(ValueError, match="schedules"):
        OraclePolicy(service, 3, [np.array([1])])
