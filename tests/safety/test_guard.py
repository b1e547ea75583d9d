"""The guard chain: each step on its own, the order of the chain, and the bounds property."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscale.core import ManualClock
from rlscale.safety import (
    DRY_RUN,
    FALLBACK_HPA,
    HOLD_REPLICAS,
    INVALID_PROPOSAL,
    POLICY_ERROR,
    SCALE_DOWN_LIMIT,
    SCALE_DOWN_STABILIZED,
    SCALE_UP_LIMIT,
    STALE_METRICS,
    TOO_FEW_REPLICAS,
    TOO_MANY_REPLICAS,
    Bounds,
    ClampStep,
    DryRunStep,
    Guard,
    GuardConfig,
    GuardInput,
    GuardState,
    RateLimits,
    RateLimitStep,
    StabilizationStep,
    ValidateStep,
    as_replica_count,
)


def _state(proposal: object = 5, current: int = 5, time_s: float = 0.0, **kw: object) -> GuardState:
    inp = GuardInput(time_s=time_s, current_replicas=current, proposal=proposal, **kw)  # type: ignore[arg-type]
    return GuardState(inp=inp, replicas=current, proposed=-1)


def _codes(state_or_decision: object) -> list[str]:
    return [r.code for r in state_or_decision.reasons]  # type: ignore[attr-defined]


# --- step 1: validate -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (np.int64(7), 7),
        (np.array([4], dtype=np.int64), 4),
        (6.0, 6),
        (np.array([2.0]), 2),
        (0, 0),
    ],
)
def test_as_replica_count_accepts_integral_values(value: object, expected: int) -> None:
    assert as_replica_count(value) == (expected, "")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "no proposal"),
        (float("nan"), "not finite"),
        (np.array([np.inf]), "not finite"),
        (-1, "negative"),
        (2.5, "not an integer"),
        (np.array([1, 2]), "shape"),
        ("5", "not a number"),
        (True, "boolean"),
        (object(), "not a number"),
    ],
)
def test_as_replica_count_names_the_problem(value: object, problem: str) -> None:
    count, message = as_replica_count(value)
    assert count is None
    assert problem in message


def test_validate_passes_a_good_proposal_without_reasons() -> None:
    state = _state(proposal=np.array([8]), current=5)
    ValidateStep().apply(state)
    assert state.replicas == 8 and state.reasons == [] and not state.held


def test_validate_falls_back_to_hpa_when_policy_raised() -> None:
    state = _state(
        proposal=None, policy_error="RuntimeError: boom", fallback_proposal=np.array([3]), current=5
    )
    ValidateStep().apply(state)
    assert state.replicas == 3
    assert _codes(state) == [POLICY_ERROR, FALLBACK_HPA]
    assert "boom" in state.reasons[0].message


def test_validate_falls_back_on_garbage_and_holds_without_fallback() -> None:
    state = _state(proposal=float("nan"), fallback_proposal=7, current=5)
    ValidateStep().apply(state)
    assert (state.replicas, _codes(state)) == (7, [INVALID_PROPOSAL, FALLBACK_HPA])

    state = _state(proposal=-3, fallback_proposal=None, current=5)
    ValidateStep().apply(state)
    assert (state.replicas, state.held) == (5, True)
    assert _codes(state) == [INVALID_PROPOSAL, HOLD_REPLICAS]

    state = _state(proposal=2.5, fallback_proposal=7, current=5)
    ValidateStep(fallback=False).apply(state)
    assert (state.replicas, _codes(state)) == (5, [INVALID_PROPOSAL, HOLD_REPLICAS])


def test_validate_holds_on_stale_metrics_and_follows_hpa_only_upwards() -> None:
    state = _state(proposal=2, stale_signals=("cpu_utilization",), fallback_proposal=3, current=5)
    ValidateStep().apply(state)
    assert (state.replicas, state.held) == (5, True)
    assert _codes(state) == [STALE_METRICS, HOLD_REPLICAS]
    assert "cpu_utilization" in state.reasons[0].message

    state = _state(proposal=2, stale_signals=("latency_p95_s",), fallback_proposal=9, current=5)
    ValidateStep().apply(state)
    assert (state.replicas, state.held) == (9, False)
    assert _codes(state) == [STALE_METRICS, FALLBACK_HPA]


# --- step 2: clamp --------------------------------------------------------------------------


def test_clamp_records_too_few_and_too_many() -> None:
    step = ClampStep(Bounds(2, 10))
    low, high, inside = _state(), _state(), _state()
    low.replicas, high.replicas, inside.replicas = 0, 50, 6
    for s in (low, high, inside):
        step.apply(s)
    assert (low.replicas, _codes(low)) == (2, [TOO_FEW_REPLICAS])
    assert (high.replicas, _codes(high)) == (10, [TOO_MANY_REPLICAS])
    assert (inside.replicas, _codes(inside)) == (6, [])


def test_bounds_reject_min_above_max() -> None:
    with pytest.raises(ValueError, match="min_replicas <= max_replicas"):
        Bounds(5, 2)


# --- step 3: stabilisation ------------------------------------------------------------------


def test_stabilization_takes_the_max_of_the_window_with_a_manual_clock() -> None:
    clock = ManualClock()
    step = StabilizationStep(window_s=60.0)

    def run(proposal: int, current: int) -> GuardState:
        s = _state(time_s=clock.now(), current=current)
        s.replicas = proposal
        step.apply(s)
        return s

    first = run(8, current=8)  # window seeded with current=8
    assert first.replicas == 8
    clock.advance(15)
    down = run(3, current=8)
    assert down.replicas == 8 and _codes(down) == [SCALE_DOWN_STABILIZED]
    clock.advance(30)
    still = run(4, current=8)
    assert still.replicas == 8
    clock.advance(31)  # t=76: window [16, 76] holds only 4@45 and 4@76
    later = run(4, current=8)
    assert later.replicas == 4 and _codes(later) == []
    # scale-up is never delayed
    clock.advance(1)
    up = run(12, current=4)
    assert up.replicas == 12 and _codes(up) == []


def test_stabilization_seeds_with_current_so_a_restart_cannot_scale_down_at_once() -> None:
    step = StabilizationStep(window_s=300.0)
    s = _state(time_s=1000.0, current=9)
    s.replicas = 2
    step.apply(s)
    assert s.replicas == 9 and _codes(s) == [SCALE_DOWN_STABILIZED]


def test_stabilization_ignores_held_decisions() -> None:
    step = StabilizationStep(window_s=300.0)
    s = _state(time_s=0.0, current=9)
    s.replicas, s.held = 9, True
    step.apply(s)
    assert s.replicas == 9 and _codes(s) == []
    s2 = _state(time_s=10.0, current=3)
    s2.replicas = 3
    step.apply(s2)  # the window was not fed by the held decision; seeded by current=3
    assert s2.replicas == 3


def test_stabilization_window_must_be_in_hpa_range() -> None:
    with pytest.raises(ValueError, match="window_s"):
        StabilizationStep(window_s=-1)


# --- step 4: rate limit ---------------------------------------------------------------------


def test_rate_limit_up_uses_the_larger_of_pods_and_percent() -> None:
    step = RateLimitStep(RateLimits(period_s=15, up_pods=4, up_percent=100), Bounds(1, 100))
    assert step.limits_for(0.0, 1)[1] == 5  # max(1+4, 2)  (HPA Path B default, cur=1 → 5)
    assert step.limits_for(0.0, 3)[1] == 7
    assert step.limits_for(0.0, 10)[1] == 20
    s = _state(current=10)
    s.replicas = 40
    step.apply(s)
    assert s.replicas == 20 and _codes(s) == [SCALE_UP_LIMIT]


def test_rate_limit_counts_changes_in_the_period() -> None:
    clock = ManualClock()
    step = RateLimitStep(RateLimits(period_s=60, up_pods=2, up_percent=None), Bounds(1, 100))
    step.record(clock.now(), 4, 6)  # +2 at t=0
    clock.advance(10)
    assert step.limits_for(clock.now(), 6)[1] == 6  # periodStart 4, +2 = 6: nothing more yet
    clock.advance(50)  # event exactly 60 s old no longer counts
    assert step.limits_for(clock.now(), 6)[1] == 8


def test_rate_limit_down_pods_and_percent_with_min_select() -> None:
    limits = RateLimits(
        period_s=15, up_pods=None, up_percent=None, down_pods=3, down_percent=50, select="Min"
    )
    step = RateLimitStep(limits, Bounds(1, 100))
    low, high = step.limits_for(0.0, 10)
    assert (low, high) == (7, 100)  # Min: smallest change: max(10-3, floor(5)) = 7
    s = _state(current=10)
    s.replicas = 2
    step.apply(s)
    assert s.replicas == 7 and _codes(s) == [SCALE_DOWN_LIMIT]


def test_rate_limit_lets_bounds_win_when_current_is_outside() -> None:
    step = RateLimitStep(RateLimits(period_s=15, down_pods=1), Bounds(1, 10))
    s = _state(current=50)
    s.replicas = 10
    step.apply(s)
    assert s.replicas == 10
    assert _codes(s) == [SCALE_DOWN_LIMIT, TOO_MANY_REPLICAS]


@pytest.mark.parametrize(
    "kwargs",
    [{"period_s": 0}, {"up_pods": 0}, {"down_percent": 150}, {"select": "Disabled?"}],
)
def test_rate_limits_reject_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RateLimits(**kwargs)  # type: ignore[arg-type]


# --- step 5: dry run ------------------------------------------------------------------------


def test_dry_run_marks_and_records_but_keeps_the_value() -> None:
    s = _state()
    s.replicas = 7
    DryRunStep(True).apply(s)
    assert s.dry_run and s.replicas == 7 and _codes(s) == [DRY_RUN]
    s2 = _state()
    DryRunStep(False).apply(s2)
    assert not s2.dry_run and _codes(s2) == []


# --- the chain ------------------------------------------------------------------------------


def test_chain_order_validate_clamp_stabilize_ratelimit_dryrun() -> None:
    guard = Guard(
        GuardConfig(
            min_replicas=2,
            max_replicas=30,
            stabilization_window_s=60,
            rate_limits=RateLimits(period_s=15, up_pods=2, up_percent=None, down_pods=1, down_percent=None),
            dry_run=True,
        )
    )
    assert [type(s).__name__ for s in guard.steps] == [
        "ValidateStep",
        "ClampStep",
        "StabilizationStep",
        "RateLimitStep",
        "DryRunStep",
    ]
    # garbage → fallback 50 → clamp 30 → stabilised (no change) → +2 limit → dry run
    d = guard.review(GuardInput(time_s=0.0, current_replicas=5, proposal=np.nan, fallback_proposal=50))
    assert _codes(d) == [INVALID_PROPOSAL, FALLBACK_HPA, TOO_MANY_REPLICAS, SCALE_UP_LIMIT, DRY_RUN]
    # the proposal reviewed is the HPA's once it stands in (not -1, "none", as before)
    assert (d.proposed_replicas, d.final_replicas, d.dry_run) == (50, 7, True)
    assert [(r.before, r.after) for r in d.reasons] == [(5, 5), (5, 50), (50, 30), (30, 7), (7, 7)]


def test_chain_records_scale_events_only_when_applied() -> None:
    cfg = GuardConfig(
        1, 50, stabilization_window_s=0, rate_limits=RateLimits(period_s=60, up_pods=2, up_percent=None)
    )
    live, shadow = Guard(cfg), Guard(GuardConfig(**{**cfg.__dict__, "dry_run": True}))
    for guard in (live, shadow):
        assert guard.review(GuardInput(time_s=0.0, current_replicas=4, proposal=20)).final_replicas == 6
    # 10 s later the cluster (live) is at 6: the +2 of the period is used up
    assert live.review(GuardInput(time_s=10.0, current_replicas=6, proposal=20)).final_replicas == 6
    # in shadow mode nothing was applied; the cluster is still at 4, another +2 is allowed
    assert shadow.review(GuardInput(time_s=10.0, current_replicas=4, proposal=20)).final_replicas == 6


def test_chain_is_silent_on_an_unconstrained_decision() -> None:
    guard = Guard(GuardConfig(1, 20, stabilization_window_s=0))
    d = guard.review(GuardInput(time_s=0.0, current_replicas=5, proposal=np.array([6]), inputs={"rps": 1.0}))
    assert (d.proposed_replicas, d.final_replicas, d.reasons, d.inputs) == (6, 6, (), {"rps": 1.0})


proposals = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(-5, 100), max_size=3).map(np.array),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    bounds=st.tuples(st.integers(0, 50), st.integers(0, 50)).map(sorted),
    steps=st.lists(
        st.tuples(
            st.floats(0, 120),  # time advance
            st.integers(0, 200),  # current replicas (may be outside the bounds)
            proposals,
            proposals,  # fallback
            st.booleans(),  # stale
            st.booleans(),  # policy raised
        ),
        min_size=1,
        max_size=8,
    ),
    window=st.floats(0, 600),
    limits=st.one_of(
        st.none(),
        st.builds(
            RateLimits,
            period_s=st.floats(1, 120),
            up_pods=st.one_of(st.none(), st.integers(1, 10)),
            up_percent=st.one_of(st.none(), st.floats(1, 300)),
            down_pods=st.one_of(st.none(), st.integers(1, 10)),
            down_percent=st.one_of(st.none(), st.floats(1, 100)),
            select=st.sampled_from(["Max", "Min"]),
        ),
    ),
    dry_run=st.booleans(),
)
def test_final_is_always_within_bounds(bounds, steps, window, limits, dry_run) -> None:  # type: ignore[no-untyped-def]
    lo, hi = bounds
    guard = Guard(GuardConfig(lo, hi, stabilization_window_s=window, rate_limits=limits, dry_run=dry_run))
    clock = ManualClock()
    for advance, current, proposal, fallback, stale, raised in steps:
        clock.advance(advance)
        d = guard.review(
            GuardInput(
                time_s=clock.now(),
                current_replicas=current,
                proposal=proposal,
                policy_error="boom" if raised else None,
                stale_signals=("request_rate_rps",) if stale else (),
                fallback_proposal=fallback,
            )
        )
        assert lo <= d.final_replicas <= hi
        assert isinstance(d.final_replicas, int)
        assert d.dry_run == dry_run
        for r in d.reasons:
            assert r.code and r.message
        assert not math.isnan(d.final_replicas)
