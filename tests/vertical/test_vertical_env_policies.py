"""The vertical env (seed7 and factored actions) and the HPA / VPA / HPA+VPA baselines."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlscale.core.signals import ScalingSignals
from rlscale.core.vertical import VerticalSignals
from rlscale.envs.vertical import (
    VerticalEnv,
    decode_vertical_action,
    run_vertical,
    synthetic_vertical_windows,
)
from rlscale.policies.vpa import DecayingHistogram, HPAVerticalPolicy, HPAVPAPolicy, VPAPolicy
from rlscale.sim import vertical as vs


@pytest.mark.parametrize("mode", ["seed7", "factored"])
def test_env_passes_checker_and_actions_move_knobs(mode: str) -> None:
    env = VerticalEnv(action_mode=mode, episode_steps=20, seed=0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    up_cpu = 3 if mode == "seed7" else np.array([1, 2, 1])
    env.step(up_cpu)
    assert env._state.cpu_cores[0] == pytest.approx(0.6)
    total = 0.0
    for _ in range(19):
        obs, r, term, trunc, _info = env.step(0 if mode == "seed7" else np.array([1, 1, 1]))
        total += r
    assert trunc and not term and total < 0


def test_decode_seed7_clips_and_rejects() -> None:
    p = vs.teastore_vertical()
    a = decode_vertical_action(
        "seed7",
        np.array([2, 4, 6, 1]),
        p,
        np.array([1, 3, 3, 9]),
        np.array([0.5, 0.1, 0.5, 0.5]),
        np.array([500.0, 500.0, 100.0, 500.0]),
    )
    np.testing.assert_array_equal(a.replicas, [1, 3, 3, 9])
    np.testing.assert_allclose(a.cpu_cores, [0.5, 0.1, 0.5, 0.5])
    np.testing.assert_allclose(a.heap_mb, [500.0, 500.0, 100.0, 500.0])
    with pytest.raises(ValueError, match="seed7"):
        decode_vertical_action("seed7", np.array([7]), p, np.array([1]), np.array([0.5]), np.array([500.0]))


def test_histogram_percentiles() -> None:
    h = DecayingHistogram(1, 0.01, 1000.0, 86400.0)
    vals = np.linspace(0.1, 1.0, 100)
    for v in vals:
        h.add(np.array([v]), np.array([1.0]), np.array([0.0]), np.array([True]))
    assert h.percentile(0.9)[0] == pytest.approx(0.91, rel=0.06)
    assert h.percentile(0.5)[0] == pytest.approx(0.55, rel=0.06)


def _vsig(util: float, cpu: float, t: float) -> VerticalSignals:
    s = ScalingSignals.single(
        time_s=t,
        desired_replicas=2,
        ready_replicas=2,
        pending_replicas=0,
        request_rate_rps=50,
        cpu_utilization=util,
        latency_p95_s=0.05,
        backlog_requests=0,
        dropped_rps=0,
    )
    return VerticalSignals(s, np.array([cpu]), np.array([500.0]), np.array([0.7]))


def test_vpa_raises_an_underprovisioned_cpu_limit_and_keeps_heap() -> None:
    p = vs.teastore_vertical()
    vpa = VPAPolicy(p.spec, 1)
    # pods pinned at their 300 m limit: target = p90 x 1.15 > limit -> evict up
    # (the lower bound needs ~30 min of history: confidence multiplier x0.9 at 30 min)
    out = [vpa.act(_vsig(1.0, 0.3, 15.0 * k)) for k in range(160)]
    assert out[10].cpu_cores[0] == pytest.approx(0.3)
    assert max(o.cpu_cores[0] for o in out) == pytest.approx(0.4)  # rounded up to the 100 m grid
    assert all(o.heap_mb[0] == 500.0 and o.replicas[0] == 2 for o in out)
    # with little history the upper bound is huge: an over-provisioned limit is not cut yet
    vpa2 = VPAPolicy(p.spec, 1)
    out2 = [vpa2.act(_vsig(0.2, 0.9, 15.0 * k)) for k in range(8)]
    assert out2[-1].cpu_cores[0] == pytest.approx(0.9)


def test_baselines_run_on_the_vertical_sim() -> None:
    p = vs.teastore_vertical()
    loads = np.stack(synthetic_vertical_windows(p, 3, count=4, length=80))
    results = {}
    for pol in (HPAVerticalPolicy(p.spec, 4), VPAPolicy(p.spec, 4), HPAVPAPolicy(p.spec, 4)):
        results[pol.name] = run_vertical(pol.name, pol.act, p, loads, seed=0)
    assert results["vpa"].mean_cpu_cores > 0.5  # the VPA raised the 500 m start
    assert results["hpa"].mean_cpu_cores == pytest.approx(0.5)
    assert results["hpa"].mean_replicas > 2.0  # the HPA scaled out
    for r in results.values():
        assert 0.0 <= r.slo_violation_rate <= 1.0 and r.cost_usd > 0
