"""The ``hold_target`` action space (core.actions), its teachers (agents.teacher) and the
evaluate-style validation on training splits (agents.validation)."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.agents.teacher import FixedActionPolicy, ScaleAwarePolicy, scale_aware_actions
from rlscale.agents.train_config import HOLD_TARGET_GRID_UTILIZATIONS, HOLD_TARGET_GRID_WINDOWS, TrainConfig
from rlscale.core import OBSERVATION_FEATURES, ObservationBuilder, ScalingSignals, ServiceSpec
from rlscale.core.actions import ActionConfig, decode_action, trend_rate_estimate
from rlscale.core.observation import PEAK_MEMORY_S

SPEC = ServiceSpec(
    name="t",
    pod_capacity_rps=100.0,
    slo_latency_s=0.2,
    min_replicas=1,
    max_replicas=50,
    step_s=15.0,
    startup_delay_s=45.0,
)


def _sig(rate: list[float], desired: list[float]) -> ScalingSignals:
    n = len(rate)
    return ScalingSignals(
        time_s=np.zeros(n),
        desired_replicas=np.asarray(desired, dtype=float),
        ready_replicas=np.asarray(desired, dtype=float),
        pending_replicas=np.zeros(n),
        request_rate_rps=np.asarray(rate, dtype=float),
        cpu_utilization=np.full(n, 0.5),
        latency_p95_s=np.full(n, 0.05),
        backlog_requests=np.zeros(n),
        dropped_rps=np.zeros(n),
    )


def _history(rates: list[float], desired: float = 5.0) -> tuple[ScalingSignals, np.ndarray]:
    """Signals of the last rate and the observation after feeding the whole history."""
    b = ObservationBuilder(SPEC, 1)
    obs = None
    for r in rates:
        sig = _sig([r], [desired])
        obs = b.build(sig)
    assert obs is not None
    return sig, obs


def test_hold_keeps_current_and_targets_size_for_utilisation() -> None:
    cfg = ActionConfig(mode="hold_target", target_utilizations=(0.5, 0.8))
    assert cfg.discrete and cfg.num_actions == 3
    sig = _sig([400.0, 400.0, 400.0], [7, 7, 7])
    # flat history: no trend, so the estimate is the observed rate
    _, obs = _history([400.0] * 20)
    obs3 = np.repeat(obs, 3, axis=0)
    got = decode_action(cfg, np.array([0, 1, 2]), sig, SPEC, observation=obs3)
    np.testing.assert_array_equal(got, [7, 8, 5])  # hold; ceil(400/50); ceil(400/80)


def test_trend_extrapolates_growth_only() -> None:
    cfg = ActionConfig(mode="hold_target", target_utilizations=(1.0,))
    rising = [100.0 * 1.1**i for i in range(20)]
    sig, obs = _history(rising)
    est = trend_rate_estimate(cfg, sig, SPEC, obs)
    # slope log(1.1) per period over 45/15 + 1 = 4 periods
    assert est[0] == pytest.approx(rising[-1] * 1.1**4, rel=1e-3)
    falling = rising[::-1]
    sig, obs = _history(falling)
    assert trend_rate_estimate(cfg, sig, SPEC, obs)[0] == pytest.approx(falling[-1])
    assert trend_rate_estimate(cfg, sig, SPEC, None)[0] == pytest.approx(falling[-1])


def test_peak_window_remembers_the_recent_peak() -> None:
    cfg = ActionConfig(mode="hold_target", target_utilizations=(1.0,), peak_windows=(0, 4, 16))
    assert cfg.num_actions == 4
    rates = [100.0] * 5 + [900.0] + [100.0] * 6  # a peak 6 periods ago
    sig, obs = _history(rates)
    got = (
        decode_action(cfg, np.array([1]), sig, SPEC, obs)[0],
        decode_action(cfg, np.array([2]), sig, SPEC, obs)[0],
        decode_action(cfg, np.array([3]), sig, SPEC, obs)[0],
    )
    assert got == (1, 1, 9)  # window 0 and 4 forget it; window 16 sizes for 900 req/s


def test_peak_memory_feature_decays_and_survives_a_zero_rate() -> None:
    """The decayed peak by hand: e^(-15/7200) per period, in units of the desired capacity."""
    i = OBSERVATION_FEATURES.index("load_peak_memory")
    decay = np.exp(-SPEC.step_s / PEAK_MEMORY_S)
    _, obs = _history([100.0, 900.0] + [0.0] * 100, desired=2.0)
    assert obs[0, i] == pytest.approx(900.0 * decay**100 / (100.0 * 2.0), rel=1e-6)
    b = ObservationBuilder(SPEC, 2)
    b.build(_sig([900.0, 900.0], [2, 2]))
    b.reset(np.array([True, False]), rate_rps=np.array([50.0, 50.0]))  # forgets row 0 only
    got = b.build(_sig([50.0, 50.0], [2, 2]))[:, i]
    np.testing.assert_allclose(got, [50.0 / 200.0, 900.0 * decay / 200.0], rtol=1e-6)


def test_memory_floor_keeps_the_long_peak_unless_pods_start_at_once() -> None:
    cfg = ActionConfig(
        mode="hold_target", target_utilizations=(0.9,), peak_windows=(16,), memory_floor_utilization=1.0
    )
    sig, obs = _history([100.0, 900.0] + [0.0] * 100, desired=2.0)  # a burst 25 minutes ago
    held = 900.0 * np.exp(-100 * SPEC.step_s / PEAK_MEMORY_S) / 100.0  # pods at 100 %
    want = int(np.ceil(held))
    assert 1 < want < 9
    got = (
        decode_action(cfg, np.array([0]), sig, SPEC, obs)[0],
        decode_action(cfg, np.array([1]), sig, SPEC, obs)[0],
    )
    assert got == (want, want)  # hold and a sized action both keep the floor
    assert decode_action(cfg, np.array([1]), sig, SPEC)[0] == 1  # no observation, no floor
    no_floor = ActionConfig(mode="hold_target", target_utilizations=(0.9,), peak_windows=(16,))
    assert decode_action(no_floor, np.array([1]), sig, SPEC, obs)[0] == 1  # 16 periods forgot it
    instant = ServiceSpec(**{**SPEC.to_dict(), "startup_delay_s": 0.0})
    assert decode_action(cfg, np.array([1]), sig, instant, obs)[0] == 1
    with pytest.raises(ValueError, match="memory_floor_utilization"):
        ActionConfig(mode="hold_target", memory_floor_utilization=0.0)
    assert ActionConfig.from_dict(cfg.to_dict()) == cfg


def test_config_round_trip_and_errors() -> None:
    cfg = ActionConfig(mode="hold_target", target_utilizations=(0.6, 0.7), peak_windows=(0, 8))
    assert ActionConfig.from_dict(cfg.to_dict()) == cfg
    assert ActionConfig.from_dict({"mode": "delta"}).peak_windows == (0,)  # old checkpoints load
    with pytest.raises(ValueError, match="peak_windows"):
        ActionConfig(mode="hold_target", peak_windows=(5,))
    with pytest.raises(ValueError, match="target_utilizations"):
        ActionConfig(mode="hold_target", target_utilizations=(0.0,))
    with pytest.raises(ValueError, match="out of range"):
        decode_action(cfg, np.array([5]), _sig([1.0], [1]), SPEC)
    with pytest.raises(ValueError, match="features"):
        decode_action(cfg, np.array([1]), _sig([1.0], [1]), SPEC, observation=np.zeros((1, 3)))
    assert len(OBSERVATION_FEATURES) == 21


def test_scale_aware_teacher_picks_more_headroom_for_small_services() -> None:
    cfg = TrainConfig(action_mode="hold_target").action_config()
    assert cfg.target_utilizations == HOLD_TARGET_GRID_UTILIZATIONS
    assert cfg.peak_windows == HOLD_TARGET_GRID_WINDOWS
    idx = scale_aware_actions(cfg, _sig([50.0, 400.0, 3000.0], [1, 5, 40]), SPEC)
    nw = len(cfg.peak_windows)
    u = [cfg.target_utilizations[(i - 1) // nw] for i in idx]
    assert u == [0.6, 0.7, 0.8]
    pol = ScaleAwarePolicy(SPEC, 3, cfg)
    got = pol.act(_sig([50.0, 400.0, 3000.0], [1, 5, 40]))
    np.testing.assert_array_equal(got, [1, 6, 38])  # ceil(.5/.6), ceil(4/.7), ceil(30/.8)
    with pytest.raises(ValueError, match="index"):
        FixedActionPolicy(SPEC, 1, cfg, cfg.num_actions)


def test_validation_windows_come_from_the_train_split_only() -> None:
    from rlscale.agents.validation import VAL_FRACTION, validation_traces
    from rlscale.sim.presets import load_service
    from rlscale.workload import split, standard_split

    params = load_service("web")
    (trace,) = validation_traces(params, ["nasa"], windows=2, window_hours=1.0)
    train, test = standard_split("nasa", step_s=params.step_s)
    _, val = split(train, test_fraction=VAL_FRACTION)
    assert trace.rates_rps.shape == (2, 240)
    starts = np.asarray(trace.start_offsets_s)
    assert np.all(starts >= val.start_offset_s)
    assert np.all(starts + 240 * params.step_s <= test.start_offset_s)  # never the test part
    assert (
        float(trace.rates_rps.max()) <= 0.8 * params.spec.max_replicas * float(np.mean(params.mu_rps)) + 1e-6
    )


def test_service_rule_follows_the_latency_law() -> None:
    from rlscale.agents.teacher import service_rule
    from rlscale.sim.presets import load_service

    grid = TrainConfig(action_mode="hold_target").action_config()
    web = service_rule(load_service("web"), grid)
    # M/M/c: the tolerable utilisation grows with the pod count; start-up delay -> margin + memory
    assert [u for _, u, _ in web] == [0.5, 0.7, 0.8]
    assert [w for _, _, w in web] == [16, 16, 8]
    lipari = service_rule(load_service("lipari2025"), grid)
    # linear law crossing the SLO at rho = 0.625, pods start at once: 0.6 everywhere, no memory
    assert {(u, w) for _, u, w in lipari} == {(0.6, 0)}
