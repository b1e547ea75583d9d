"""GPU/CPU pools: placement really moves load; each pool is its own queue with its own cost."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.sim import pools as ps


def _run(placement: int, steps: int = 10, rate: float = 150.0, reps=(3, 6)):
    params = ps.pools_preset()
    st = ps.init_state(params, 1, reps, placement=placement, initial_rate_rps=rate)
    rng = np.random.default_rng(0)
    ms = []
    for _ in range(steps):
        st, m = ps.step(params, st, np.array([rate]), np.array([list(reps)]), np.array([placement]), rng)
        ms.append(m)
    return params, ms


def test_placement_moves_load_between_pools() -> None:
    _, gpu = _run(0)
    _, prop = _run(1)
    _, cpu = _run(2)
    share = [np.mean([m.weights[0, 0] for m in ms]) for ms in (gpu, prop, cpu)]
    assert share[0] > share[1] > share[2]
    served_gpu = [sum(float(m.per_pool[0].served[0]) for m in ms) for ms in (gpu, prop, cpu)]
    assert served_gpu[0] > served_gpu[1] > 1.3 * served_gpu[2]  # (the GPU pool saturates at 120 req/s)
    # proportional: GPU capacity 3*40 = 120 of 120 + 6*8 = 168
    assert share[1] == pytest.approx(120 / 168)
    # and it changes the outcome: pushing 150 req/s onto the slow CPU pods fails the SLO more
    fail = [sum(float(m.slo_failures[0]) for m in ms) for ms in (gpu, prop, cpu)]
    assert fail[2] > fail[1]


def test_conservation_and_pool_costs() -> None:
    params, ms = _run(1, steps=5, reps=(2, 2))
    for m in ms:
        assert m.offered[0] == pytest.approx(sum(float(p.offered[0]) for p in m.per_pool))
        assert m.cost_usd[0] == pytest.approx(sum(float(p.cost_usd[0]) for p in m.per_pool))
    gpu_cost = sum(float(m.per_pool[0].cost_usd[0]) for m in ms)
    hours = 5 * params.step_s / 3600.0
    assert gpu_cost == pytest.approx(2 * params.pod_price_usd_hour(0) * hours)
    assert params.pod_price_usd_hour(0) > 5 * params.pod_price_usd_hour(1)


def test_empty_pool_gets_no_load_and_bad_placement_rejected() -> None:
    _, ms = _run(0, steps=3, reps=(0, 5), rate=20.0)
    assert all(m.weights[0, 0] == 0.0 for m in ms)
    params = ps.pools_preset()
    st = ps.init_state(params, 1, (1, 1))
    with pytest.raises(ValueError, match="placement"):
        ps.step(params, st, np.array([10.0]), np.array([[1, 1]]), np.array([3]), np.random.default_rng(0))
