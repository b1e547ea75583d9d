import heapq
import math

import numpy as np
import pytest

from rlscale.sim import get_preset
from rlscale.sim.queueing import (
    _hypo_term,
    erlang_b,
    erlang_c,
    latency_quantile_params,
    latency_survival_params,
    min_replicas_for_slo,
    mmc_sojourn_quantile,
    mmc_sojourn_survival,
    mmc_waiting_survival,
)


def naive_erlang_c(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_hand_values():
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-12)
    for rho in (0.0, 0.1, 0.5, 0.93):
        assert erlang_c(1, rho) == pytest.approx(rho, abs=1e-12)
    assert erlang_c(3, 3.0) == 1.0  # unstable
    assert erlang_c(2, 5.0) == 1.0


def test_erlang_c_matches_naive_formula_for_small_c():
    rng = np.random.default_rng(0)
    for _ in range(200):
        c = int(rng.integers(1, 40))
        a = float(rng.uniform(0, c * 0.999))
        assert erlang_c(c, a) == pytest.approx(naive_erlang_c(c, a), rel=1e-9, abs=1e-300)


def test_erlang_b_log_space_agrees_with_recursion_and_scales():
    # c > 64 goes through gammaln/gammaincc; compare with a plain Python recursion
    for c, a in [(65, 50.0), (100, 95.0), (300, 250.0), (1000, 990.0)]:
        b = 1.0
        for k in range(1, c + 1):
            b = a * b / (k + a * b)
        assert erlang_b(c, a) == pytest.approx(b, rel=1e-9)
    big = erlang_c(np.array([5000, 5000, 20000]), np.array([4900.0, 4000.0, 19900.0]))
    assert np.all(np.isfinite(big)) and np.all((big >= 0) & (big <= 1))
    assert big[1] < 1e-40 < 0.01 < big[0]


def test_waiting_survival_closed_form():
    c, lam, mu = 3, 250.0, 105.0
    cw = erlang_c(c, lam / mu)
    assert mmc_waiting_survival(0.0, c, lam, mu) == pytest.approx(cw)
    assert mmc_waiting_survival(0.01, c, lam, mu) == pytest.approx(cw * math.exp(-(c * mu - lam) * 0.01))


def test_sojourn_special_case_theta_equals_mu():
    # c - 1 - a = 0: theta = c*mu - lambda = mu, the hypoexponential degenerates to Erlang-2
    c, mu = 2, 10.0
    lam = 1.0 * mu  # a = 1
    cw = 1.0 / 3.0
    t = np.array([0.0, 0.05, 0.2, 1.0])
    expected = (1 - cw) * np.exp(-mu * t) + cw * (1 + mu * t) * np.exp(-mu * t)
    np.testing.assert_allclose(mmc_sojourn_survival(t, c, lam, mu), expected, rtol=1e-12)
    # and it is continuous next to the special case
    near = mmc_sojourn_survival(t, c, lam * (1 + 1e-7), mu)
    np.testing.assert_allclose(near, expected, rtol=1e-5)


def simulate_mmc_sojourn(c: int, lam: float, mu: float, n: int, seed: int) -> np.ndarray:
    """FCFS M/M/c by direct simulation: each arrival takes the earliest-free server."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    services = rng.exponential(1 / mu, n)
    free = [0.0] * c
    out = np.empty(n)
    for i in range(n):
        start = max(arrivals[i], heapq.heappop(free))
        done = start + services[i]
        heapq.heappush(free, done)
        out[i] = done - arrivals[i]
    return out[n // 10 :]  # drop the warm-up


def test_sojourn_survival_matches_monte_carlo():
    c, lam, mu = 3, 270.0, 105.0  # rho = 0.857
    samples = simulate_mmc_sojourn(c, lam, mu, 200_000, seed=1)
    for t in (0.005, 0.02, 0.05, 0.1):
        emp = float(np.mean(samples > t))
        assert mmc_sojourn_survival(t, c, lam, mu) == pytest.approx(emp, abs=0.01)
    q95 = float(mmc_sojourn_quantile(0.95, c, lam, mu))
    assert np.quantile(samples, 0.95) == pytest.approx(q95, rel=0.05)


def test_quantile_inverts_survival_and_handles_unstable():
    qs = np.array([0.5, 0.9, 0.95, 0.99, 0.999])
    for c, lam, mu in [(1, 50.0, 105.0), (4, 400.0, 105.0), (20, 2000.0, 105.0), (2, 10.0, 10.0)]:
        t = mmc_sojourn_quantile(qs, c, lam, mu)
        np.testing.assert_allclose(mmc_sojourn_survival(t, c, lam, mu), 1 - qs, rtol=1e-7)
        assert np.all(np.diff(t) > 0)
    assert np.isinf(mmc_sojourn_quantile(0.95, 2, 300.0, 105.0))
    with pytest.raises(ValueError, match="q must be in"):
        mmc_sojourn_quantile(1.0, 2, 10.0, 105.0)


def test_latency_law_with_drain_width():
    # base + U(0, w) + Exp(mu): compare the closed form with a numerical average
    base, w, mu = 0.01, 2.0, 5.0
    u = np.linspace(0, w, 200_001)
    for x in (0.5, 1.0, 2.2, 3.0):
        z = x - base - u
        numeric = np.mean(np.where(z < 0, 1.0, np.exp(-mu * np.maximum(z, 0))))
        closed = latency_survival_params(
            x, np.array(base), np.array(w), np.array(0.0), np.array(mu), np.array(mu)
        )
        assert float(closed) == pytest.approx(numeric, rel=1e-4)
    q = latency_quantile_params(
        0.95, np.array([base]), np.array([w]), np.array([0.0]), np.array([mu]), np.array([mu])
    )
    s = latency_survival_params(
        q, np.array([base]), np.array([w]), np.array([0.0]), np.array([mu]), np.array([mu])
    )
    assert float(s[0]) == pytest.approx(0.05, rel=1e-7)


def test_min_replicas_for_slo_is_minimal_and_monotone():
    params = get_preset("web")
    rates = np.linspace(0, 2500, 400)
    need = min_replicas_for_slo(rates, params, 0.01)
    assert need.dtype == np.int64 and np.all(np.diff(need) >= 0)
    mu = params.mu_rps
    budget = params.spec.slo_latency_s - params.base_latency_s
    for lam, c in zip(rates, need, strict=True):
        assert mmc_sojourn_survival(budget, c, lam, mu) <= 0.01 + 1e-12
        if c - 1 >= max(params.spec.min_replicas, 1) and lam > 0:
            worse = mmc_sojourn_survival(budget, c - 1, lam, mu)
            assert worse > 0.01
    # infeasible SLO: even one request alone is too slow -> the cap
    assert min_replicas_for_slo(np.array([10.0]), params, 1e-12)[0] == params.spec.max_replicas
    # seed 000: RT <= 0.7 needs rho <= 0.625: 4.33 req/s -> 9 replicas (seed-systems.md §1.1)
    assert min_replicas_for_slo(np.array([260 / 60]), get_preset("lipari2025"))[0] == 9


def test_min_replicas_for_slo_large_counts():
    params = get_preset("web")
    need = min_replicas_for_slo(np.array([1.0e5, 5.0e5]), params, 0.05)
    mu = params.mu_rps
    assert np.all(need > np.array([1.0e5, 5.0e5]) / mu)
    budget = params.spec.slo_latency_s - params.base_latency_s
    assert mmc_sojourn_survival(budget, need - 1, np.array([1.0e5, 5.0e5]), mu).min() > 0.05


def test_fast_quantile_matches_robust_quantile():
    from rlscale.sim.queueing import latency_quantile_fast

    rng = np.random.default_rng(0)
    n = 20_000
    c = rng.integers(1, 40, n).astype(float)
    mu = rng.uniform(0.5, 200, n)
    rho = rng.uniform(0, 0.9999, n) ** 0.3
    lam = rho * c * mu
    cw = erlang_c(c, lam / mu)
    sat = rng.random(n) < 0.3
    width = np.where(sat, rng.exponential(2, n) * rng.integers(0, 2, n), 0.0)
    wp = np.where(sat, 0.0, cw)
    wr = np.where(sat, mu, c * mu - lam)
    base = rng.uniform(0, 0.1, n)
    exact = latency_quantile_params(0.95, base, width, wp, wr, mu, iterations=200, rtol=1e-15)
    fast = latency_quantile_fast(0.95, base, width, wp, wr, mu)
    np.testing.assert_allclose(fast, exact, rtol=1e-7)
    np.testing.assert_allclose(
        latency_quantile_fast(0.95, base, width, wp, wr, mu, iterations=3), exact, rtol=1e-4
    )


def test_erlang_c_paths_agree():
    from rlscale.sim.queueing import _erlang_b_horner, _erlang_b_log, erlang_c_unchecked

    rng = np.random.default_rng(5)
    c = rng.integers(1, 30, 5000).astype(float)
    a = c * rng.uniform(0, 0.999, 5000)
    np.testing.assert_allclose(_erlang_b_horner(c, a), _erlang_b_log(c, a), rtol=1e-9, atol=1e-300)
    for n in (3, 5000):  # small batches take the log path, large ones Horner
        np.testing.assert_allclose(erlang_c_unchecked(c[:n], a[:n]), erlang_c(c[:n], a[:n]), rtol=1e-9)


def test_hypo_term_series_rows_match_each_entry_alone():
    """The series runs only on the entries where theta − mu is tiny (issue 16): a batch mixing
    both kinds gives each entry what it gets alone, and the series the exact limit t·e^{-mu t}."""
    t = np.array([0.0, 0.1, 0.5, 2.0, 0.3, 0.3])
    mu = np.array([5.0, 5.0, 5.0, 5.0, 8.0, 8.0])
    theta = np.array([7.0, 5.0, 5.0 + 1e-9, 9.0, 8.0, 2.0])
    e_mu, h = _hypo_term(t, mu, theta)
    for i in range(t.size):
        e_i, h_i = _hypo_term(t[i : i + 1], mu[i : i + 1], theta[i : i + 1])
        assert e_i[0] == e_mu[i] and h_i[0] == h[i]
    np.testing.assert_allclose(h[1], 0.1 * np.exp(-0.5), rtol=1e-12)  # theta = mu
    np.testing.assert_allclose(h[3], (np.exp(-10.0) - np.exp(-18.0)) / 4.0, rtol=1e-12)
    _, h_broadcast = _hypo_term(np.array([[0.1], [0.5]]), np.array([5.0, 5.0]), np.array([5.0, 9.0]))
    assert h_broadcast.shape == (2, 2)
    np.testing.assert_allclose(h_broadcast[:, 0], [0.1 * np.exp(-0.5), 0.5 * np.exp(-2.5)], rtol=1e-12)
