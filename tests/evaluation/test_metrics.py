"""Metric formulas on hand-computed traces (reference/autoscalers.md §7)."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.evaluation import metrics


def test_violation_rate_counts_dropped_and_violating_over_offered() -> None:
    offered = np.array([100.0, 50.0, 0.0, 50.0])
    violating = np.array([2.0, 0.0, 0.0, 5.0])
    dropped = np.array([0.0, 3.0, 0.0, 0.0])
    # (2 + 3 + 5) / 200
    assert metrics.slo_violation_rate(violating, dropped, offered) == pytest.approx(0.05)


def test_violation_rate_per_column_and_zero_offered() -> None:
    offered = np.array([[10.0, 0.0], [10.0, 0.0]])
    violating = np.array([[1.0, 0.0], [0.0, 0.0]])
    dropped = np.array([[0.0, 0.0], [1.0, 0.0]])
    out = metrics.slo_violation_rate(violating, dropped, offered, axis=0)
    np.testing.assert_allclose(out, [0.1, 0.0])


def test_mixture_quantile_single_exponential_matches_closed_form() -> None:
    rate = 2.0  # Exp(2): quantile q = -ln(1-q)/2

    def surv(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.exp(-rate * x), (3, *np.shape(x)[1:]))

    w = np.ones(3)
    for q in (0.5, 0.95, 0.99):
        got = metrics.mixture_quantile(q, surv, w)
        assert float(got) == pytest.approx(-np.log(1 - q) / rate, rel=1e-9)


def test_mixture_quantile_weights_by_served_requests() -> None:
    # two steps: 90 requests with latency exactly-ish 0.1 s scale, 10 requests much slower.
    rates = np.array([10.0, 1.0])
    served = np.array([90.0, 10.0])

    def surv(x: np.ndarray) -> np.ndarray:
        return np.exp(-rates * x.reshape(1))

    q95 = float(metrics.mixture_quantile(0.95, surv, served))
    mix = (90 * np.exp(-10 * q95) + 10 * np.exp(-1 * q95)) / 100
    assert mix == pytest.approx(0.05, rel=1e-8)
    # a served-weighted mixture is not the mean of per-step p95s
    assert q95 != pytest.approx(np.mean(-np.log(0.05) / rates))


def test_mixture_quantile_batched_and_empty() -> None:
    rates = np.array([[1.0, 4.0]])  # T=1, batch of 2

    def surv(x: np.ndarray) -> np.ndarray:
        return np.exp(-rates * x)

    got = metrics.mixture_quantile(0.5, surv, np.array([[1.0, 0.0]]), batch_shape=(2,))
    assert got[0] == pytest.approx(np.log(2.0))
    assert np.isnan(got[1])
    with pytest.raises(ValueError, match="quantile"):
        metrics.mixture_quantile(1.0, surv, np.ones((1, 2)), batch_shape=(2,))


def test_hours_and_scaling_actions() -> None:
    pod_seconds = np.array([15.0 * 2, 15.0 * 3, 15.0 * 3, 15.0 * 1]) * 60  # 60 steps' worth each
    assert metrics.hours(pod_seconds) == pytest.approx((2 + 3 + 3 + 1) * 15 * 60 / 3600)
    desired = np.array([2, 3, 3, 1, 1, 4])
    assert metrics.scaling_actions(desired) == 3
    assert metrics.scaling_actions(desired, initial=1) == 4
    assert metrics.scaling_actions(desired, initial=2) == 3
    # 6 steps of 15 s = 1/40 h
    assert metrics.scaling_actions_per_hour(desired, 15.0, initial=1) == pytest.approx(4 * 40)


def test_elasticity_hand_computed() -> None:
    d = np.array([2.0, 4.0, 4.0, 2.0])
    s = np.array([2.0, 2.0, 5.0, 3.0])
    e = metrics.elasticity(d, s, step_s=900.0)  # 4 steps of 15 min = 1 h
    # under: step 1 (4-2)/4 = 0.5 -> theta_u = 100*0.5/4
    assert float(e.theta_u) == pytest.approx(12.5)
    # over: step 2 (5-4)/4 = .25, step 3 (3-2)/2 = .5 -> 100*.75/4
    assert float(e.theta_o) == pytest.approx(18.75)
    assert float(e.tau_u) == pytest.approx(25.0)
    assert float(e.tau_o) == pytest.approx(50.0)
    # Δs = [0, +3, -2] signs [0, 1, -1]; Δd = [+2, 0, -2] signs [1, 0, -1]
    # |0-1|=1, |1-0|=1, |-1+1|=0 -> 2/3
    assert float(e.instability) == pytest.approx(100 * 2 / 3)
    # E_S = 2, E_D = 2 over 1 h
    assert float(e.jitter_per_hour) == pytest.approx(0.0)


def test_elasticity_jitter_sign_and_batched() -> None:
    d = np.array([[3.0, 3.0]] * 4)
    s = np.array([[3.0, 3.0], [4.0, 3.0], [3.0, 3.0], [4.0, 3.0]])
    e = metrics.elasticity(d, s, step_s=15.0)
    hours = 4 * 15 / 3600
    np.testing.assert_allclose(e.jitter_per_hour, [3 / hours, 0.0])
    np.testing.assert_allclose(e.tau_o, [50.0, 0.0])
    np.testing.assert_allclose(e.instability, [100.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        metrics.elasticity(d, s[:, :1], 15.0)


def test_elasticity_zero_demand_does_not_divide_by_zero() -> None:
    e = metrics.elasticity(np.array([0.0, 0.0]), np.array([1.0, 0.0]), 15.0)
    assert float(e.theta_o) == pytest.approx(50.0)


def test_mean_ci95_student_t() -> None:
    out = metrics.mean_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    assert out["mean"] == pytest.approx(3.0)
    # t_{0.975,4} = 2.776445105 ; sd = sqrt(2.5)
    assert out["ci95"] == pytest.approx(2.776445105 * np.sqrt(2.5) / np.sqrt(5), rel=1e-6)
    assert metrics.mean_ci95([7.0]) == {"mean": 7.0, "ci95": None}
    assert metrics.mean_ci95([np.nan]) == {"mean": None, "ci95": None}
    assert metrics.mean_ci95([2.0, 2.0])["ci95"] == 0.0


def test_mixture_quantile_newton_finds_the_bisection_root() -> None:
    """Newton on the simulator's latency laws (M/M/c sojourns and drain-width rows, whose
    mixture has kinks) lands on the root bisection finds, and NaN where nothing was served."""
    from rlscale.sim.simulator import StepMetrics, latency_survival, latency_survival_density

    rng = np.random.default_rng(5)
    t, seeds = 400, 3
    width = np.where(rng.random((t, seeds)) < 0.1, rng.uniform(0.5, 20.0, (t, seeds)), 0.0)
    law = {
        "lat_base_s": rng.uniform(0.005, 0.05, (t, seeds)),
        "lat_width_s": width,
        "lat_wait_prob": np.where(width > 0, 0.0, rng.uniform(0, 0.9, (t, seeds))),
        "lat_wait_rate": rng.uniform(1.0, 80.0, (t, seeds)),
        "lat_service_rate": rng.uniform(5.0, 40.0, (t, seeds)),
    }

    def metrics_of(index: object) -> StepMetrics:
        fields = {name: np.zeros(1) for name in StepMetrics.field_names()}
        return StepMetrics(**(fields | {k: v[index] for k, v in law.items()}))

    served = rng.uniform(0, 100, (t, seeds))
    served[:, 2] = 0.0
    levels = np.repeat([0.5, 0.95, 0.99], seeds)
    cols_seed = np.tile(np.arange(seeds), 3)
    newton = metrics.mixture_quantile_newton(
        levels,
        lambda x, rows, cols: latency_survival_density(x[None, :], metrics_of((rows, cols_seed[cols]))),
        served[:, cols_seed],
        block_rows=64,  # several blocks, the last one short
    ).reshape(3, seeds)
    bisect = metrics.mixture_quantile(
        np.array([0.5, 0.95, 0.99])[:, None],
        lambda x: latency_survival(x, metrics_of((slice(None), None, slice(None)))),
        served[:, None, :],
        batch_shape=(3, seeds),
    )
    np.testing.assert_allclose(newton[:, :2], bisect[:, :2], rtol=1e-9)
    assert np.all(np.isnan(newton[:, 2]))
    assert np.all(np.diff(newton[:, 0]) > 0)
