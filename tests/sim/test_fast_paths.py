"""The simulator's hot-loop shortcuts agree with the reference formulas they replace: the
Erlang C recursion, the two-exponential p95 solver, the drain-width closed forms, the
in-place arrival draws, and the scratch buffers (nothing leaks between steps)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from rlscale.sim import get_preset, init_state, step
from rlscale.sim.queueing import (
    _drain_quantile,
    _drain_survival,
    _erlang_c_recursion,
    _latency_surv_dens,
    erlang_c,
    erlang_c_unchecked,
    latency_quantile_params,
)
from rlscale.sim.simulator import StepMetrics, latency_survival

WEB = get_preset("web")


def naive_erlang_c(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_recursion_matches_naive_formula_up_to_64_servers():
    rng = np.random.default_rng(11)
    c = rng.integers(1, 65, 400).astype(float)
    a = c * rng.uniform(0, 0.999, 400)
    a[:5] = 0.0
    a[5:10] = 1e-200  # 1/B overflows: C must come out 0, not NaN
    got = _erlang_c_recursion(c, a)
    want = np.array(
        [naive_erlang_c(int(ci), float(ai)) if ai > 1e-100 else 0.0 for ci, ai in zip(c, a, strict=True)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)
    # the public unchecked form: unstable rows (a >= c) and c = 0 give 1
    cu = np.array([0.0, 1.0, 3.0, 2.0, 5.0] * 30)
    au = np.array([0.0, 1.5, 3.0, 1.0, 4.0] * 30)
    np.testing.assert_allclose(erlang_c_unchecked(cu, au), erlang_c(cu, au), rtol=1e-12)


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95, 0.99])
def test_drain_quantile_inverts_the_drain_survival(q):
    rng = np.random.default_rng(int(q * 100))
    n = 5000
    mu = 10 ** rng.uniform(-1, 3, n)
    width = 10 ** rng.uniform(-9, 1.5, n)
    z = _drain_quantile(1 - q, math.log(1 - q), width, mu)
    assert np.all(np.isfinite(z)) and np.all(z > 0)
    # (the survival formula itself cancels for mu·width << 1, so invert where it is sharp)
    sharp = mu * width > 1e-3
    np.testing.assert_allclose(_drain_survival(z, width, mu)[sharp], 1 - q, rtol=1e-8)
    # a vanishing width leaves the service time's quantile
    tiny = mu * width < 1e-7
    np.testing.assert_allclose(z[tiny], -math.log(1 - q) / mu[tiny], rtol=1e-6)
    # both branches (quantile below and beyond the drain width) are exercised
    assert np.any(z < width) and np.any(z > width)
    # the same law as the general solver's (which loses accuracy only for tiny widths)
    wide = width > 1e-4
    zeros = np.zeros(int(wide.sum()))
    ref = latency_quantile_params(
        q, zeros, width[wide], zeros, mu[wide], mu[wide], iterations=200, rtol=1e-15
    )
    np.testing.assert_allclose(z[wide], ref, rtol=1e-9)


def test_drain_survival_is_the_general_survival_with_a_width():
    rng = np.random.default_rng(2)
    n = 2000
    mu, width = rng.uniform(0.5, 200, n), rng.exponential(1.0, n) + 1e-6
    z = rng.uniform(-1, 5, n)
    ref, _ = _latency_surv_dens(z, width, np.zeros(n), mu, mu)
    np.testing.assert_array_equal(_drain_survival(z, width, mu), ref)


def test_arrival_counts_are_numpys_poisson_draws():
    # desired == ready: no start-up delay is drawn, so the arrivals are the step's first draw
    lam = np.array([0.0, 0.25, 4000.0])
    state = init_state(WEB, 3, 2)
    _, m = step(WEB, state, lam, np.full(3, 2), np.random.default_rng(7))
    assert WEB.poisson_arrivals
    np.testing.assert_array_equal(m.offered, np.random.default_rng(7).poisson(lam * WEB.spec.step_s))


def _scenario_steps(params, n: int, steps: int, seed: int) -> list[StepMetrics]:
    rng = np.random.default_rng(seed)
    state = init_state(params, n, 3, rng, initial_rate_rps=100.0)
    base = np.random.default_rng(seed + 1).uniform(0, 2500, n)
    desired = np.random.default_rng(seed + 2).integers(0, 25, (steps, n))
    out = []
    for t in range(steps):
        _, m = step(params, state, base * (1 + 0.5 * np.sin(t / 5)), desired[t], rng)
        out.append(m)
    return out


def test_metrics_of_a_step_are_not_overwritten_by_later_steps():
    steps = _scenario_steps(WEB, 300, 12, 0)
    first = steps[0]
    snapshot = {k: np.array(getattr(first, k), copy=True) for k in StepMetrics.field_names()}
    more = _scenario_steps(WEB, 300, 3, 5)  # same batch size: same scratch buffers
    assert more
    for k, v in snapshot.items():
        np.testing.assert_array_equal(getattr(first, k), v, err_msg=k)


def test_step_latency_outputs_match_the_reference_law():
    ms = StepMetrics.stack(_scenario_steps(replace(WEB, poisson_arrivals=False), 400, 30, 3))
    served = ms.served > 0
    assert np.any(ms.lat_width_s[served] > 0) and np.any(ms.lat_wait_prob[served] > 0)  # both laws occur
    # violating requests are exactly the served ones beyond the SLO under the step's law
    want = ms.served * latency_survival(WEB.spec.slo_latency_s, ms)
    np.testing.assert_allclose(ms.violating, want, rtol=1e-12, atol=1e-9)
    # the per-step p95 is the law's 0.95 quantile
    args = [
        np.asarray(getattr(ms, k)).ravel()
        for k in ("lat_base_s", "lat_width_s", "lat_wait_prob", "lat_wait_rate", "lat_service_rate")
    ]
    ref = latency_quantile_params(0.95, *args, iterations=200, rtol=1e-15)
    np.testing.assert_allclose(ms.latency_p95_s.ravel(), ref, rtol=1e-5)
    # and mean latency the law's mean
    mean = args[0] + 0.5 * args[1] + args[2] / args[3] + 1 / args[4]
    np.testing.assert_allclose(ms.latency_mean_s.ravel(), mean, rtol=1e-12)


def test_interleaved_simulations_of_the_same_size_are_independent():
    params = replace(WEB, poisson_arrivals=False, startup_delay_max_s=WEB.startup_delay_min_s)
    alone = [_scenario_steps(params, 64, 10, s) for s in (1, 2)]
    rngs = [np.random.default_rng(s) for s in (1, 2)]
    states = [init_state(params, 64, 3, r, initial_rate_rps=100.0) for r in rngs]
    bases = [np.random.default_rng(s + 1).uniform(0, 2500, 64) for s in (1, 2)]
    desired = [np.random.default_rng(s + 2).integers(0, 25, (10, 64)) for s in (1, 2)]
    for t in range(10):
        for i in range(2):
            _, m = step(params, states[i], bases[i] * (1 + 0.5 * np.sin(t / 5)), desired[i][t], rngs[i])
            np.testing.assert_array_equal(m.served, alone[i][t].served)
            np.testing.assert_array_equal(m.latency_p95_s, alone[i][t].latency_p95_s)
