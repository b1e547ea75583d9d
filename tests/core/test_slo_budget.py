"""Burn rates against hand-computed windows, and the budget feedback's three moves."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.core.slo_budget import (
    REASON_BURNING,
    REASON_HOLD,
    REASON_SPARE,
    REASON_UNKNOWN,
    BudgetFeedback,
    BurnRateEstimator,
    FeedbackConfig,
)


def test_burn_rates_are_exact_window_sums() -> None:
    # 60-s periods: the 5-min window is 5 periods, the 1-h window 60
    est = BurnRateEstimator(num_envs=2, step_s=60.0, windows_s=(300.0, 3600.0))
    assert est.windows_steps == (5, 60)
    fractions = [0.0, 0.1, 0.0, 0.5, 0.0, 0.0, 0.2]
    rates = [10.0, 10.0, 20.0, 10.0, 10.0, 30.0, 10.0]
    for f, r in zip(fractions, rates, strict=True):
        est.update(np.array([f, np.nan]), np.array([r, r]))
    # by hand, requests = rate * 60: the last five periods are indices 2..6
    bad_5 = 60 * (0.0 * 20 + 0.5 * 10 + 0.0 * 10 + 0.0 * 30 + 0.2 * 10)
    total_5 = 60 * (20 + 10 + 10 + 30 + 10)
    bad_60 = 60 * (0.1 * 10 + 0.5 * 10 + 0.2 * 10)
    total_60 = 60 * sum(rates)
    burn = est.burn_rates(0.01)
    assert burn[0, 0] == pytest.approx(bad_5 / total_5 / 0.01)
    assert burn[0, 1] == pytest.approx(bad_60 / total_60 / 0.01)
    assert np.isnan(burn[1]).all()  # the second service never measured its fraction


def test_the_short_window_forgets_what_left_it() -> None:
    est = BurnRateEstimator(num_envs=1, step_s=60.0, windows_s=(300.0, 3600.0))
    est.update(np.array([1.0]), np.array([10.0]))
    for _ in range(5):
        est.update(np.array([0.0]), np.array([10.0]))
    short, long_ = est.bad_fractions()[0]
    assert short == 0.0  # the bad period is six periods back
    assert long_ == pytest.approx(1 / 6)


def test_feedback_cuts_while_burning_grows_with_budget_to_spare_and_holds_when_unknown() -> None:
    cfg = FeedbackConfig(
        cut_per_min=0.5, grow_per_hour=2.0, spare_burn=0.5, min_headroom=0.1, max_headroom=1.3
    )
    fb = BudgetFeedback(num_envs=3, step_s=60.0, budget=0.01, config=cfg)
    # service 0 burns (10 % bad at a 1 % budget: 10x, over the 6x cut), service 1 is clean,
    # service 2 unmeasured
    h = fb.update(np.array([0.10, 0.0, np.nan]), np.array([10.0, 10.0, 10.0]))
    assert h[0] == pytest.approx(0.5)  # one minute of burning: x cut_per_min
    assert h[1] == pytest.approx(1.0 * 2.0 ** (1 / 60))  # a minute's share of x2 an hour
    assert h[2] == 1.0
    assert list(fb.last_reason) == [REASON_BURNING, REASON_SPARE, REASON_UNKNOWN]
    for _ in range(30):
        h = fb.update(np.array([0.10, 0.0, np.nan]), np.array([10.0, 10.0, 10.0]))
    assert h[0] == pytest.approx(0.1)  # clipped at min_headroom
    assert h[1] == pytest.approx(min(2.0 ** (31 / 60), cfg.max_headroom))
    fb.reset(np.array([True, False, False]))
    assert fb.headroom[0] == 1.0 and fb.last_reason[0] == REASON_HOLD


def test_feedback_holds_when_the_long_window_has_no_budget_left() -> None:
    fb = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01)
    for _ in range(10):  # ten bad minutes, then calm: the hour is still over budget
        fb.update(np.array([0.05]), np.array([10.0]))
    cut = fb.headroom.copy()
    for _ in range(6):
        fb.update(np.array([0.0]), np.array([10.0]))
    assert fb.headroom == pytest.approx(cut)  # neither cut nor given back
    assert fb.last_reason[0] == REASON_HOLD


@pytest.mark.parametrize("budget", [0.0, 1.0, -0.1, float("nan")])
def test_a_bad_budget_is_refused(budget: float) -> None:
    with pytest.raises(ValueError, match="budget"):
        BudgetFeedback(num_envs=1, step_s=15.0, budget=budget)


def test_feedback_config_round_trips_and_refuses_unknown_fields() -> None:
    cfg = FeedbackConfig(cut_per_min=0.7)
    assert FeedbackConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown fields"):
        FeedbackConfig.from_dict({"cut_per_minute": 0.7})


def test_burning_while_pods_start_lengthens_the_memory_but_keeps_the_headroom() -> None:
    fb = BudgetFeedback(num_envs=2, step_s=60.0, budget=0.01, config=FeedbackConfig(min_headroom=0.5))
    start = fb.memory_s.copy()
    # both burn; service 0 still has pods starting (a transient), service 1 has all pods ready
    fb.update(np.array([0.10, 0.10]), np.array([10.0, 10.0]), pending_replicas=np.array([3.0, 0.0]))
    assert fb.memory_s == pytest.approx(start * fb.config.memory_grow_per_min)
    assert fb.headroom[0] == 1.0
    assert fb.headroom[1] == pytest.approx(fb.config.cut_per_min)


def test_the_budget_floor_serves_the_remembered_peak() -> None:
    fb = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01)
    fb.update(np.array([0.0]), np.array([90.0]))  # a peak of 90 req/s
    for _ in range(10):
        fb.update(np.array([0.0]), np.array([10.0]))
    # spare budget: the memory shrank each hour-share; the peak decayed with it
    peak = fb.peak_rps[0]
    assert 10.0 < peak < 90.0
    # ... and the headroom grew above 1 (hotter with budget to spare): the floor sizes at 90 % x it
    assert fb.headroom[0] > 1.0
    assert fb.floor_replicas(pod_capacity_rps=10.0)[0] == np.ceil(peak / (10.0 * 0.9 * fb.headroom[0]) - 1e-9)
    assert BudgetFeedback(1, 60.0, 0.01, FeedbackConfig(floor_utilization=0.0)).floor_replicas(10.0) is None


def test_a_slow_burn_lengthens_the_memory_without_cutting_the_headroom() -> None:
    fb = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01, config=FeedbackConfig(min_headroom=0.5))
    fb.update(np.array([0.03]), np.array([10.0]))  # 3x the budget: burning, not severe
    assert fb.last_reason[0] == REASON_BURNING and fb.headroom[0] == 1.0
    assert fb.memory_s[0] > fb.config.memory_init_s


def test_memory_is_given_back_only_while_the_slo_period_has_budget_left() -> None:
    """After a bad hour the 6-h window is spare again long before the 4-week SLO period is: the
    service that overspent its period keeps its memory, the one that did not gives it back."""
    cfg = FeedbackConfig(long_window_s=3600.0)  # a short long window, so it clears within the test
    fb = BudgetFeedback(num_envs=2, step_s=60.0, budget=0.01, config=cfg)
    # service 0: an hour at 5 % bad (5x); service 1: the same hour at 0.5 % (spare throughout)
    for _ in range(60):
        fb.update(np.array([0.05, 0.005]), np.array([10.0, 10.0]))
    held = fb.memory_s.copy()
    for _ in range(90):  # calm: the 1-h window empties of the bad hour, the period does not
        fb.update(np.array([0.0, 0.0]), np.array([10.0, 10.0]))
    assert fb.burn_rates()[0, 1] == 0.0  # the long window is spare for service 0 ...
    assert fb.memory_s[0] == pytest.approx(held[0])  # ... but 5x for an hour overspent the period
    assert fb.last_reason[0] == REASON_HOLD
    assert fb.memory_s[1] < held[1] and fb.last_reason[1] == REASON_SPARE


def test_headroom_above_one_is_spent_with_budget_to_spare_and_given_back_on_any_burn() -> None:
    cfg = FeedbackConfig(max_headroom=1.1, long_window_s=600.0)
    fb = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01, config=cfg)
    for _ in range(120):  # two clean hours: hotter, up to max_headroom
        fb.update(np.array([0.0]), np.array([10.0]))
    assert fb.headroom[0] == pytest.approx(1.1)
    for _ in range(10):  # a 3x burn, far from severe: once both windows burn ...
        fb.update(np.array([0.03]), np.array([10.0]))
        if fb.last_reason[0] == REASON_BURNING:
            break
    assert fb.last_reason[0] == REASON_BURNING
    assert fb.headroom[0] == pytest.approx(1.0)  # ... the hotter sizing is given back, not below 1


def test_the_loop_steers_under_the_budget_at_its_target_burn() -> None:
    """0.8x the budget is under budget, but over a 0.6 target: the loop that aims at 0.6 answers
    it as a burn (lengthens the floor's memory); the one that aims at the whole budget holds."""
    margin = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01, config=FeedbackConfig(target_burn=0.6))
    whole = BudgetFeedback(num_envs=1, step_s=60.0, budget=0.01, config=FeedbackConfig(target_burn=1.0))
    for fb in (margin, whole):
        fb.update(np.array([0.008]), np.array([10.0]))
    assert margin.last_reason[0] == REASON_BURNING
    assert margin.memory_s[0] > margin.config.memory_init_s
    assert whole.last_reason[0] == REASON_HOLD
    assert whole.memory_s[0] == whole.config.memory_init_s
    # spare is relative to the target too: 0.4x the budget is spare at 1, not at 0.6
    for fb in (margin, whole):
        fb.reset()
        fb.update(np.array([0.004]), np.array([10.0]))
    assert whole.last_reason[0] == REASON_SPARE
    assert margin.last_reason[0] == REASON_HOLD
    with pytest.raises(ValueError, match="target_burn"):
        FeedbackConfig(target_burn=1.5)
