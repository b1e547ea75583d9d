"""Threshold, static and predictive baselines."""

from __future__ import annotations

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.policies.simple import PredictivePolicy, StaticPolicy, ThresholdPolicy


def test_threshold_steps(service: ServiceSpec) -> None:
    p = ThresholdPolicy(service, 4)
    assert isinstance(p, Policy)
    s = make_signals(
        4, desired_replicas=np.array([3, 3, 3, 1]), cpu_utilization=np.array([0.9, 0.5, 0.1, 0.1])
    )
    assert p.act(s).tolist() == [4, 3, 2, 1]  # the last is clamped at min_replicas
    nan = make_signals(4, desired_replicas=3, cpu_utilization=float("nan"))
    assert p.act(nan).tolist() == [3, 3, 3, 3]


def test_threshold_boundaries_are_strict_and_cooldown(service: ServiceSpec) -> None:
    p = ThresholdPolicy(service, 1, step_up=2, cooldown_s=30.0)
    assert p.act(make_signals(time_s=0.0, desired_replicas=3, cpu_utilization=0.8))[0] == 3
    assert p.act(make_signals(time_s=0.0, desired_replicas=3, cpu_utilization=0.81))[0] == 5
    assert p.act(make_signals(time_s=15.0, desired_replicas=5, cpu_utilization=0.95))[0] == 5  # cooling down
    assert p.act(make_signals(time_s=30.0, desired_replicas=5, cpu_utilization=0.95))[0] == 7
    with pytest.raises(ValueError, match="lower < upper"):
        ThresholdPolicy(service, 1, upper=0.3, lower=0.5)


def test_static(service: ServiceSpec) -> None:
    assert StaticPolicy(service, 3, replicas=5).act(make_signals(3)).tolist() == [5, 5, 5]
    assert StaticPolicy(service, 1).act(make_signals(1))[0] == service.max_replicas
    with pytest.raises(ValueError, match="replicas"):
        StaticPolicy(service, 1, replicas=-1)


def test_predictive_scales_ahead_of_a_ramp(service: ServiceSpec) -> None:
    # a linear ramp of +20 rps per period; horizon = 45 s start-up + 15 s = 4 periods
    p = PredictivePolicy(service, 1, reactive=False, headroom=0.0)
    assert p.horizon_steps == 4
    cur = 1
    for k in range(30):
        rate = 100.0 + 20.0 * k
        cur = int(p.act(make_signals(time_s=15.0 * k, desired_replicas=cur, request_rate_rps=rate))[0])
    # the trend is learnt: the plan covers the rate 4 periods ahead at the 70 rps target
    ahead = 100.0 + 20.0 * (29 + 4)
    assert cur >= np.ceil(ahead / 70.0) - 1
    assert cur > np.ceil((100.0 + 20.0 * 29) / 70.0)


def test_predictive_scale_in_is_conservative(service: ServiceSpec) -> None:
    p = PredictivePolicy(service, 1, reactive=False, headroom=0.0, scale_in_window_s=60.0)
    assert p.act(make_signals(time_s=0.0, desired_replicas=1, request_rate_rps=700.0))[0] == 10
    seen = [
        int(p.act(make_signals(time_s=15.0 * k, desired_replicas=10, request_rate_rps=70.0))[0])
        for k in range(1, 7)
    ]
    assert seen[:3] == [10, 10, 10]  # the t=0 proposal of 10 stays in the 60 s window (strictly newer)
    assert seen[-1] < 10


def test_predictive_takes_the_max_with_the_reactive_hpa(service: ServiceSpec) -> None:
    p = PredictivePolicy(service, 1, headroom=0.0, reactive_target_pct=50)
    # low request rate but hot CPU: the reactive HPA (cap max(2·2, 4)) wins
    out = p.act(
        make_signals(
            time_s=0.0, desired_replicas=2, ready_replicas=2, request_rate_rps=10.0, cpu_utilization=2.0
        )
    )
    assert out[0] == 4


def test_predictive_seasonal_max(service: ServiceSpec) -> None:
    season = 8 * service.step_s
    p = PredictivePolicy(
        service, 1, reactive=False, headroom=0.0, season_s=season, scale_in_window_s=0.0, alpha=1.0, beta=0.0
    )
    rates = [70.0] * 8
    rates[5] = 700.0  # a spike at phase 5 of each season
    outs = []
    for k in range(16):
        outs.append(
            int(p.act(make_signals(time_s=15.0 * k, desired_replicas=1, request_rate_rps=rates[k % 8]))[0])
        )
    # second season: at phases 1..4 the spike is within the 4-period horizon of last season's phase 5
    assert outs[9] == 10 and outs[12] == 10
    assert outs[14] == 1  # phase 6: the spike is behind; (scale-in window 0)


def test_predictive_horizon_must_cover_startup(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="start-up"):
        PredictivePolicy(service, 1, horizon_s=10.0)
