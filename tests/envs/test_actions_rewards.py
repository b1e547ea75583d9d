import numpy as np
import pytest

from rlscale.core import ScalingSignals, ServiceSpec
from rlscale.core.actions import ActionConfig, decode_action
from rlscale.envs.rewards import REWARDS, get_reward, lipari2025, slo_cost, violation_fraction
from rlscale.sim import StepMetrics

SPEC = ServiceSpec("t", pod_capacity_rps=100.0, slo_latency_s=0.2, min_replicas=1, max_replicas=20)


def sig(desired, rate):
    items = [
        ScalingSignals.single(
            time_s=0,
            desired_replicas=d,
            ready_replicas=d,
            pending_replicas=0,
            request_rate_rps=r,
            cpu_utilization=0.5,
            latency_p95_s=0.1,
            backlog_requests=0,
            dropped_rps=0,
        )
        for d, r in zip(desired, rate, strict=True)
    ]
    return ScalingSignals.stack(items)


def test_delta_decoding_clamps():
    s = sig([1, 5, 20], [0, 0, 0])
    np.testing.assert_array_equal(decode_action("delta", np.array([0, 1, 2]), s, SPEC), [1, 5, 20])
    np.testing.assert_array_equal(decode_action("delta", np.array([2, 0, 0]), s, SPEC), [2, 4, 19])
    cfg = ActionConfig(mode="delta", deltas=(-3, 0, 3))
    np.testing.assert_array_equal(decode_action(cfg, np.array([2, 2, 0]), s, SPEC), [4, 8, 17])
    with pytest.raises(ValueError, match="out of range"):
        decode_action("delta", np.array([3, 0, 0]), s, SPEC)


def test_ratio_moves_at_least_one_replica():
    cfg = ActionConfig(mode="ratio", ratios=(0.5, 0.9, 1.0, 1.1, 2.0))
    s = sig([2, 2, 2, 2, 2], [0] * 5)
    np.testing.assert_array_equal(decode_action(cfg, np.arange(5), s, SPEC), [1, 1, 2, 3, 4])
    s = sig([10] * 5, [0] * 5)
    np.testing.assert_array_equal(decode_action(cfg, np.arange(5), s, SPEC), [5, 9, 10, 11, 20])


def test_target_and_utilization_decoding():
    s = sig([5, 5, 5], [500.0, 500.0, 500.0])
    np.testing.assert_array_equal(decode_action("target", np.array([-1.0, 0.0, 1.0]), s, SPEC), [1, 10, 20])
    np.testing.assert_array_equal(
        decode_action("target", np.array([[-5.0], [0.0], [5.0]]), s, SPEC), [1, 10, 20]
    )
    # u = 0.3 -> ceil(500/30) = 17; u = 0.65 -> ceil(7.69) = 8; u = 1.0 -> 5
    np.testing.assert_array_equal(
        decode_action("utilization", np.array([-1.0, 0.0, 1.0]), s, SPEC), [17, 8, 5]
    )
    # scale-free: ten times the load, ten times the pods
    big = ServiceSpec("b", pod_capacity_rps=100.0, slo_latency_s=0.2, min_replicas=1, max_replicas=1000)
    s10 = sig([50, 50, 50], [5000.0] * 3)
    np.testing.assert_array_equal(
        decode_action("utilization", np.array([-1.0, 0.0, 1.0]), s10, big), [167, 77, 50]
    )


def metrics(**kw):
    n = len(next(iter(kw.values())))
    base = {name: np.zeros(n) for name in StepMetrics.field_names()}
    base.update({k: np.asarray(v, dtype=np.float64) for k, v in kw.items()})
    for k in ("ready", "pending", "desired"):
        base[k] = base[k].astype(np.int64)
    return StepMetrics(**base)


def test_slo_cost_reward():
    m = metrics(
        served=[100, 100, 0],
        violating=[0, 50, 0],
        dropped=[0, 0, 0],
        ready=[4, 4, 4],
        pending=[0, 1, 0],
        desired=[4, 5, 4],
    )
    np.testing.assert_allclose(violation_fraction(m), [0, 0.5, 0])
    r = slo_cost(m, SPEC, np.array([4, 4, 4]))
    np.testing.assert_allclose(r, [-4 / 20, -(10 * 0.5 + 5 / 20 + 0.02 / 20), -4 / 20])
    assert REWARDS["slo_cost"] is slo_cost and get_reward("lipari2025") is lipari2025
    with pytest.raises(ValueError, match="known rewards"):
        get_reward("x")


def test_lipari_reward_matches_seed_formula():
    spec = ServiceSpec("l", pod_capacity_rps=0.8, slo_latency_s=0.7, min_replicas=1, max_replicas=13)
    m = metrics(
        latency_mean_s=[0.6, 0.9, 0.3, 2.0],
        ready=[5, 5, 1, 13],
        desired=[5, 6, 1, 13],
        arrival_rate_rps=[2.0, 2.0, 0.1, 4.0],
    )
    r = lipari2025(m, spec, np.array([5, 5, 1, 12]))
    c_res5 = 2.5 * 4 / 12 + 0.1 * (1.3**4 - 1)
    c_res13 = 2.5 + 0.1 * (1.3**12 - 1)
    expected = [
        -((0.6 - 0.2) / 0.5 + c_res5) + 0.2,
        -(2.3 + (0.9 - 0.2) / 0.5 + c_res5) - 0.4,
        -((0.3 - 0.2) / 0.5 - 0.4) + 0.2,  # N = 1 and 6 req/min < 16: resource bonus
        -(2.3 + (1.0 - 0.2) / 0.5 + c_res13) - 0.4,  # RT capped at 1 s
    ]
    np.testing.assert_allclose(r, expected, rtol=1e-12)
