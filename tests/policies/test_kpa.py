"""Knative KPA: stable vs panic mode, the panic latch, rate bounds, scale-to-zero grace (reference §4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.policies.kpa import KPAPolicy, kpa_window_periods


def act(p: KPAPolicy, t: float, ready: int, rate: float, cur: int | None = None) -> int:
    s = make_signals(
        time_s=t, desired_replicas=ready if cur is None else cur, ready_replicas=ready, request_rate_rps=rate
    )
    return int(p.act(s)[0])


def test_window_mapping(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)  # step 15 s: stable 60 s = 4 periods, panic 6 s = 1 period
    assert isinstance(p, Policy)
    assert (p.stable_periods, p.panic_periods) == (4, 1)
    assert p.target_rps == pytest.approx(70.0)
    assert kpa_window_periods(60.0, 2.0) == 30 and kpa_window_periods(6.0, 2.0) == 3


def test_stable_mode_uses_the_window_mean(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    for k in range(4):
        assert act(p, 15.0 * k, 2, 140.0) == 2
    # rate 200: panic pods 3 < 2·2 → no panic; stable mean (3·140 + 200)/4 = 155 → ceil(2.21) = 3
    assert act(p, 60.0, 2, 200.0) == 3
    assert not p.in_panic[0]


def test_panic_mode_and_its_no_decrease_latch(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    for k in range(3):
        assert act(p, 15.0 * k, 1, 70.0) == 1
    # burst: panic window 350 → 5 pods, 5/1 >= 2 → panic; stable mean 140 → 2; desired max = 5
    assert act(p, 45.0, 1, 350.0) == 5
    assert p.in_panic[0]
    # load falls back: in panic the desired count never decreases
    assert act(p, 60.0, 5, 70.0) == 5
    assert act(p, 90.0, 5, 70.0) == 5
    assert act(p, 105.0, 5, 70.0) == 5  # 45 + 60 is not before 105: still panicking
    out = act(p, 120.0, 5, 70.0)  # a full stable window since the last over-threshold tick
    assert not p.in_panic[0]
    assert out == 2  # stable mean 70 → 1 pod, but the scale-down rate bound is floor(5/2) = 2


def test_panic_needs_twice_the_ready_pods(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    assert act(p, 0.0, 4, 7 * 70.0) == 7  # 7/4 < 2: stable only (window mean = the one sample)
    assert not p.in_panic[0]
    q = KPAPolicy(service, 1)
    assert act(q, 0.0, 4, 8 * 70.0) == 8
    assert q.in_panic[0]  # 8/4 >= 2 (inclusive)


def test_rate_bounds(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    assert act(p, 0.0, 10, 0.0) == 5  # scale down at most by half per decision
    q = KPAPolicy(service, 1, max_scale_up_rate=2.0)
    assert act(q, 0.0, 2, 1e6) == 4  # ceil(2 · 2)
    r = KPAPolicy(service, 1)
    assert act(r, 0.0, 1, 1e9) == service.max_replicas  # ×1000 bound, then max-scale


def test_scale_to_zero_grace(service: ServiceSpec) -> None:
    p = KPAPolicy(dataclasses.replace(service, min_replicas=0), 1)
    assert act(p, 0.0, 1, 0.0) == 1  # desired 0, grace starts
    assert act(p, 15.0, 1, 0.0) == 1
    assert act(p, 30.0, 1, 0.0) == 0  # 30 s of zero desire
    assert act(p, 45.0, 0, 0.0) == 0
    assert act(p, 60.0, 0, 30.0) == 1  # traffic at zero: the activator buffers, one pod


def test_min_scale_never_zero(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    assert [act(p, 15.0 * k, 1, 0.0) for k in range(6)] == [1] * 6


def test_missing_rate_holds(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 1)
    assert act(p, 0.0, 3, float("nan")) == 3


def test_batched_and_reset(service: ServiceSpec) -> None:
    p = KPAPolicy(service, 2)
    s = make_signals(
        2, time_s=0.0, desired_replicas=1, ready_replicas=1, request_rate_rps=np.array([70.0, 350.0])
    )
    assert p.act(s).tolist() == [1, 5]
    assert p.in_panic.tolist() == [False, True]
    p.reset(np.array([False, True]))
    assert p.in_panic.tolist() == [False, False]


def test_bad_parameters(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="target_utilization"):
        KPAPolicy(service, 1, target_utilization=1.5)
    with pytest.raises(ValueError, match="panic_threshold_percentage"):
        KPAPolicy(service, 1, panic_threshold_percentage=50.0)
