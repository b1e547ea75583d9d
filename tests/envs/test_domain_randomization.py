"""Domain randomisation: one definition, its ranges respected, per-env metric lag applied."""

from __future__ import annotations

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlscale.envs import ENV_ID
from rlscale.envs.vector import AutoscaleVectorEnv
from rlscale.sim import ServiceParams, get_preset, init_state, randomize, signals, step
from rlscale.sim.randomization import (
    METRIC_LAG_MAX_S,
    STARTUP_DELAY_RANGE_S,
    draw_service,
    max_metric_lag_steps,
    sizing_bounds,
)

WEB = get_preset("web")


def assert_in_ranges(p, n, scale=0.2):
    lo, hi = STARTUP_DELAY_RANGE_S
    d_min, d_max = np.asarray(p.startup_delay_min_s), np.asarray(p.startup_delay_max_s)
    assert d_min.shape == (n,) and np.all((lo <= d_min) & (d_min <= d_max) & (d_max <= hi))
    for name in ("cpu_per_request_core_s", "base_latency_s"):
        f = np.asarray(getattr(p, name)) / getattr(WEB, name)
        assert np.all((1 - scale - 1e-12 <= f) & (f <= 1 + scale + 1e-12)), name
    lag = np.asarray(p.metric_lag_steps)
    assert lag.dtype.kind == "i" and lag.min() >= 0 and lag.max() <= METRIC_LAG_MAX_S / WEB.step_s


def test_randomize_respects_every_range_and_spans_it():
    p = randomize(WEB, np.random.default_rng(0), 2000, scale=0.2)
    assert p.spec == WEB.spec and p.num_envs == 2000
    assert_in_ranges(p, 2000)
    # the ranges are used, not one corner: fast and slow start-ups, every lag, capacities apart
    assert np.min(p.startup_delay_min_s) < 6 and np.max(p.startup_delay_max_s) > 115
    assert set(np.asarray(p.metric_lag_steps).tolist()) == set(range(max_metric_lag_steps(15.0) + 1))
    mu = np.asarray(p.mu_rps) / WEB.mu_rps
    assert mu.min() < 0.85 and mu.max() > 1.2
    # the base's jitter is kept: web's 30-60 s is 45 s +- 1/3
    inside = (np.asarray(p.startup_delay_min_s) > 8) & (np.asarray(p.startup_delay_max_s) < 89)
    ratio = np.asarray(p.startup_delay_max_s)[inside] / np.asarray(p.startup_delay_min_s)[inside]
    np.testing.assert_allclose(ratio, 2.0)


def test_randomize_zero_scale_is_the_base_and_bad_scales_raise():
    p = randomize(WEB, np.random.default_rng(0), 4, scale=0.0)
    assert np.all(np.asarray(p.startup_delay_max_s) == WEB.startup_delay_max_s)
    assert p.metric_lag_steps == WEB.metric_lag_steps
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="scale"):
            randomize(WEB, np.random.default_rng(0), 4, scale=bad)


def test_per_env_metric_lag_delays_each_env_by_its_own_periods():
    lags = np.array([0, 1, 3, 4])
    p = sizing_bounds(randomize(WEB, np.random.default_rng(1), 4))
    assert p.max_metric_lag_steps() == max_metric_lag_steps(WEB.step_s)
    state = init_state(p, 4, 10, initial_rate_rps=100.0)
    p = replace(p, metric_lag_steps=lags, poisson_arrivals=False)
    seen = []
    rng = np.random.default_rng(0)
    for k in range(8):
        state, _ = step(p, state, np.full(4, 100.0 if k < 2 else 500.0), np.full(4, 10), rng)
        seen.append(signals(p, state).request_rate_rps)
    first = np.argmax(np.asarray(seen) == 500.0, axis=0)
    np.testing.assert_array_equal(first, 2 + lags)
    with pytest.raises(ValueError, match="lag buffer"):
        signals(replace(p, metric_lag_steps=np.array([0, 0, 0, 9])), state)


def test_env_redraws_each_row_from_the_one_definition():
    env = AutoscaleVectorEnv(num_envs=64, randomize_service=0.2, seed=3)
    env.reset(seed=3)
    assert_in_ranges(env.params, 64)
    first = np.asarray(env.params.startup_delay_max_s).copy()
    for _ in range(env.episode_steps):  # autoreset redraws every row
        env.step(np.ones(64, dtype=np.int64))
    assert_in_ranges(env.params, 64)
    assert not np.array_equal(first, env.params.startup_delay_max_s)
    # a vector env's row i is a single env seeded seed + i: same windows, same service
    single = AutoscaleVectorEnv(num_envs=1, randomize_service=0.2, seed=5)
    vec = AutoscaleVectorEnv(num_envs=3, randomize_service=0.2, seed=3)
    vec.reset(seed=3)
    single.reset(seed=5)
    for name in draw_service(WEB, np.random.default_rng(0), 1, 0.2):
        assert np.asarray(getattr(vec.params, name))[2] == np.asarray(getattr(single.params, name))[0], name


def test_randomised_single_env_passes_check_env():
    env = gym.make(ENV_ID, randomize_service=0.3, episode_steps=20, seed=2)
    check_env(env.unwrapped)


def test_per_env_metric_lag_round_trips_and_bad_lags_raise():
    p = randomize(WEB, np.random.default_rng(2), 8)
    back = ServiceParams.from_dict(json.loads(json.dumps(p.to_dict())))
    np.testing.assert_array_equal(back.metric_lag_steps, p.metric_lag_steps)
    assert back.select(slice(2, 4)).num_envs == 2
    for bad in (np.array([1.5, 2.0]), np.array([-1, 2]), -1, 1.0):
        with pytest.raises(ValueError, match="metric_lag_steps"):
            replace(WEB, metric_lag_steps=bad)
    with pytest.raises(ValueError, match="different lengths"):
        replace(p, metric_lag_steps=np.zeros(3, dtype=np.int64))
