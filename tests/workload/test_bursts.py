"""Bursty generators: each has the statistical signature it was drawn with, per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlscale.workload import TraceError, get_trace, standard_split, synthetic
from rlscale.workload.bursts import (
    BURST_GENERATORS,
    PARAMETER_RANGES,
    PEAK_MULTIPLE,
    RENDERERS,
    ar1,
    draw_parameters,
    heavy_tail_bursts,
    mmpp_dwell_means,
    seed_streams,
)

KINDS = sorted(BURST_GENERATORS)


def runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values and lengths of the constant runs of ``x``."""
    edges = np.flatnonzero(np.diff(x) != 0) + 1
    bounds = np.concatenate([[0], edges, [x.size]])
    return x[bounds[:-1]], np.diff(bounds)


@pytest.mark.parametrize("kind", KINDS)
def test_parameters_within_their_ranges_and_differ_across_seeds(kind):
    ranges = PARAMETER_RANGES[kind]
    draws = [draw_parameters(kind, seed) for seed in range(20)]
    for name, r in ranges.items():
        values = [d[name] for d in draws]
        assert min(values) >= r.low and max(values) <= r.high, (kind, name)
        if r.low < r.high:
            assert len(set(values)) > 1, (kind, name)  # drawn by the seed, never one fixed value


@pytest.mark.parametrize("kind", KINDS)
def test_series_bounded_by_the_documented_peak(kind):
    for seed in range(10):
        p = draw_parameters(kind, seed)
        r = synthetic(kind, 2000, 15.0, seed)
        assert r.min() >= 0 and r.max() <= p["base_rps"] * PEAK_MULTIPLE[kind](p) * (1 + 1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_step_mean_of_the_per_second_series(kind):
    # the 15-s series of a seed is the per-step mean of its 1-s series over the same span
    fine = synthetic(kind, 15 * 400, 1.0, seed=4)
    coarse = synthetic(kind, 400, 15.0, seed=4)
    np.testing.assert_allclose(coarse, fine.reshape(400, 15).mean(axis=1), rtol=1e-12, atol=1e-12)


def test_every_kind_has_ranges_a_renderer_and_a_documented_peak():
    assert set(PARAMETER_RANGES) == set(RENDERERS) == set(PEAK_MULTIPLE) == set(BURST_GENERATORS)
    with pytest.raises(TraceError, match="unknown bursty kind 'nope'"):
        draw_parameters("nope", 0)


def test_override_fixes_one_parameter_and_keeps_the_other_draws():
    a = draw_parameters("mmpp", 3)
    b = draw_parameters("mmpp", 3, states=2)
    assert b["states"] == 2 and {k: v for k, v in a.items() if k != "states"} == {
        k: v for k, v in b.items() if k != "states"
    }
    with pytest.raises(TraceError, match=r"unknown parameter\(s\) \['period'\]"):
        synthetic("periodic_spikes", 10, seed=0, period=60)
    with pytest.raises(TraceError, match="alpha=-1 must be > 0"):
        synthetic("heavy_tail", 10, seed=0, alpha=-1)
    with pytest.raises(TraceError, match="phase_frac=nan must be >= 0"):
        synthetic("periodic_spikes", 10, seed=0, phase_frac=float("nan"))
    for bad in (2.5, 1):
        with pytest.raises(TraceError, match=f"states={bad} must be an integer >= 2"):
            synthetic("mmpp", 10, seed=0, states=bad)
    with pytest.raises(TraceError, match="dwell_min_s"):
        synthetic("mmpp", 10, seed=0, dwell_min_s=900, dwell_max_s=300)


def test_mmpp_has_the_dwell_times_and_level_ratio_it_was_drawn_with():
    for seed in range(3):
        p = draw_parameters("mmpp", seed)
        means = mmpp_dwell_means(p, seed)
        steps = int(400 * means.sum())  # ~400 visits per state at 1-s resolution
        r = synthetic("mmpp", steps, 1.0, seed)
        levels = p["base_rps"] * p["level_ratio"] ** (np.arange(p["states"]) / (p["states"] - 1))
        values, lengths = runs(r)
        np.testing.assert_allclose(r.max() / r.min(), p["level_ratio"], rtol=1e-12)
        state = np.argmin(np.abs(values[:, None] - levels[None, :]), axis=1)
        np.testing.assert_allclose(values, levels[state], rtol=1e-12)
        assert np.all(np.diff(state) != 0)  # every switch goes to another state
        for k in range(int(p["states"])):
            dwell = lengths[1:-1][state[1:-1] == k]  # whole sojourns only
            assert dwell.size > 200
            # mean of n exponentials: relative sd 1/sqrt(n) <= 7 %; allow 4 sd and the 1-s grid
            assert abs(dwell.mean() / means[k] - 1) < 4 / math.sqrt(dwell.size) + 1 / means[k], (seed, k)


def test_heavy_tail_sizes_follow_the_drawn_pareto_alpha():
    for seed in range(4):
        p = draw_parameters("heavy_tail", seed, max_multiplier=1e12)
        _, sizes, durations = heavy_tail_bursts(p, 3e7, np.random.default_rng(seed))
        alpha_hat = sizes.size / np.log(sizes).sum()  # Pareto(x_m = 1) maximum likelihood
        assert sizes.min() >= 1 and abs(alpha_hat / p["alpha"] - 1) < 5 / math.sqrt(sizes.size)
        assert abs(np.median(durations) / p["median_duration_s"] - 1) < 0.15


def test_heavy_tail_bursts_jump_by_their_size():
    p = draw_parameters("heavy_tail", 1)
    total_s = 50_000
    starts, sizes, durations = heavy_tail_bursts(p, total_s, seed_streams(1)[1])
    r = synthetic("heavy_tail", total_s, 1.0, seed=1)
    assert r.min() >= p["base_rps"]
    for s, a, d in zip(starts, sizes, durations, strict=True):
        i = math.ceil(s)
        if i < total_s and r[i] < p["base_rps"] * (1 + p["max_multiplier"]):  # not capped
            assert r[i] > r[i - 1]  # a burst is a jump up ...
            assert r[i] / p["base_rps"] >= 1 + a * math.exp(-(i - s) / d) - 1e-9  # ... of its size


def test_periodic_spikes_repeat_at_the_drawn_period():
    periods = []
    for seed in range(8):
        p = draw_parameters("periodic_spikes", seed)
        periods.append(p["period_s"])
        r = synthetic("periodic_spikes", int(6 * p["period_s"]) + 10, 1.0, seed)
        base, peak = p["base_rps"], p["base_rps"] * p["multiplier"]
        assert np.all(np.isclose(r, base) | np.isclose(r, peak))
        onsets = np.flatnonzero(np.diff(r) > 0) + 1
        assert onsets.size >= 4
        np.testing.assert_allclose(np.diff(onsets), p["period_s"], atol=1.0)
        phase = p["phase_frac"] * p["period_s"]
        assert min(abs(onsets[0] - phase), abs(onsets[0] - phase - p["period_s"])) <= 1.0
        width = np.mean(r[onsets[0] : onsets[0] + int(p["period_s"])] > base * 1.0001)
        assert abs(width - p["width_frac"]) <= 2.0 / p["period_s"]
    assert len({round(x) for x in periods}) == len(periods)


def test_bursts_from_zero_start_at_zero_and_have_bursts():
    for seed in range(50):
        r = synthetic("from_zero", 240, 15.0, seed)
        assert r[0] == 0.0 and r.max() > 0, seed
    p = draw_parameters("from_zero", 0)
    r = synthetic("from_zero", 400_000, 1.0, seed=0)
    busy = np.mean(r > 0)
    expected = p["mean_active_s"] / (p["mean_active_s"] + p["mean_idle_s"])
    assert abs(busy / expected - 1) < 0.15
    values, _ = runs(r)
    assert np.sum(values == 0) > 50  # many idle gaps between bursts


def test_step_start_changes_level_once_by_the_drawn_factor():
    directions = set()
    for seed in range(16):
        p = draw_parameters("step_start", seed)
        r = synthetic("step_start", 3600, 1.0, seed)
        first, last = r[0], r[-1]
        assert {round(first, 9), round(last, 9)} == {
            round(p["base_rps"], 9),
            round(p["base_rps"] * p["factor"], 9),
        }
        np.testing.assert_allclose(r[: int(p["step_at_s"])], first)
        np.testing.assert_allclose(r[math.ceil(p["step_at_s"] + p["rise_s"]) + 1 :], last)
        assert np.all(np.diff(r) >= 0) or np.all(np.diff(r) <= 0)  # monotone: one change
        directions.add(last > first)
    assert directions == {True, False}


def test_per_second_noise_has_the_drawn_spread_and_correlation_time():
    for seed in range(3):
        p = draw_parameters("per_second_noise", seed)
        x = np.log(synthetic("per_second_noise", 200_000, 1.0, seed) / p["base_rps"]) / p["sigma"]
        assert abs(x.std() - 1) < 0.08  # unit-variance AR(1), clipped at 3 sd
        a = math.exp(-1 / p["correlation_s"])
        assert abs(np.corrcoef(x[:-1], x[1:])[0, 1] - a) < 0.03
    # 15-s steps average the per-second noise out
    assert (
        synthetic("per_second_noise", 1000, 15.0, 0).std()
        < synthetic("per_second_noise", 15_000, 1.0, 0).std()
    )


def test_ar1_matches_the_recursion():
    rng = np.random.default_rng(0)
    eps = rng.standard_normal(1000)
    expected, x = np.empty(1000), 0.7
    for i, e in enumerate(eps):
        x = 0.9 * x + e
        expected[i] = x
    np.testing.assert_allclose(ar1(eps, 0.9, 0.7), expected, rtol=1e-10, atol=1e-12)


def test_reachable_through_the_trace_grammar_with_a_test_seed_split():
    t = get_trace("synthetic:mmpp?seed=3&steps=100&states=2")
    np.testing.assert_allclose(t.rate_rps, synthetic("mmpp", 100, 15.0, 3, states=2))
    t = get_trace("synthetic:from-zero?steps=50&step_s=1")
    assert t.interval_s == 1.0 and len(t) == 50
    train, test = standard_split("synthetic:periodic-spikes?seed=2&steps=100")
    np.testing.assert_allclose(train.rate_rps, synthetic("periodic_spikes", 100, 15.0, 2))
    np.testing.assert_allclose(test.rate_rps, synthetic("periodic_spikes", 100, 15.0, 1_000_002))
