"""Replicas × CPU × heap dynamics: rolling restarts dip capacity, too-small heaps OOM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rlscale.sim import vertical as vs


def _run(
    params: vs.VerticalParams,
    state: vs.VerticalState,
    rate: float,
    r: int,
    cpu: float,
    heap: float,
    steps: int,
):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(steps):
        state, m = vs.step(
            params, state, np.array([rate]), np.array([r]), np.array([cpu]), np.array([heap]), rng
        )
        out.append(m)
    return out


def test_steady_state_capacity_follows_cpu_limit() -> None:
    params = vs.teastore_vertical(poisson_arrivals=False)
    caps = []
    for cpu in (0.4, 0.6, 0.9):
        st = vs.init_state(params, 1, 2, cpu, 700.0)
        m = _run(params, st, 10.0, 2, cpu, 700.0, 2)[-1]
        caps.append(float(m.capacity_rps[0]))
        expected = 2 * params.model.pod_capacity_rps(cpu, 700.0)
        assert m.capacity_rps[0] == pytest.approx(expected)
    assert caps[0] < caps[1] < caps[2]


def test_rolling_restart_dips_capacity_then_recovers() -> None:
    params = vs.teastore_vertical(poisson_arrivals=False)
    st = vs.init_state(params, 1, 4, 0.6, 700.0)
    before = float(params.model.pod_capacity_rps(0.6, 700.0)) * 4
    after = float(params.model.pod_capacity_rps(0.7, 700.0)) * 4
    ms = _run(params, st, 50.0, 4, 0.7, 700.0, 20)
    caps = np.array([float(m.capacity_rps[0]) for m in ms])
    ready = np.array([int(m.ready[0]) for m in ms])
    # maxUnavailable = floor(25 % of 4) = 1: one pod down during the roll, never more
    assert caps[0] == pytest.approx(3 * before / 4)
    assert ready.min() == 3
    assert bool(ms[0].rolling[0])
    # pods pay the start-up delay (45 s = 3 steps): the roll takes several steps
    assert sum(bool(m.rolling[0]) for m in ms) >= 2 * params.startup_steps
    assert caps[-1] == pytest.approx(after)
    assert not bool(ms[-1].rolling[0]) and int(ms[-1].ready[0]) == 4
    # surge: never more than desired + ceil(25 %) pods exist
    assert max(int(m.ready[0] + m.pending[0]) for m in ms) <= 5


def test_heap_change_also_rolls_and_small_heap_slows() -> None:
    params = vs.teastore_vertical(poisson_arrivals=False)
    st = vs.init_state(params, 1, 2, 0.6, 700.0)
    ms = _run(params, st, 10.0, 2, 0.6, 100.0, 12)
    assert bool(ms[0].rolling[0])
    assert ms[-1].capacity_rps[0] < 2 * params.model.pod_capacity_rps(0.6, 700.0) * 0.9  # GC pressure


def test_heap_below_live_set_kills_pods() -> None:
    params = replace(vs.teastore_vertical(poisson_arrivals=False), heap_min_mb=10.0)
    live = params.model.live_heap_mb
    st = vs.init_state(params, 1, 4, 0.6, 700.0)
    ms = _run(params, st, 50.0, 4, 0.6, live * 0.5, 20)
    kills = sum(int(m.oom_kills[0]) for m in ms)
    assert kills >= 4  # new pods die each time they start, again and again
    assert int(st.oom_kills[0]) == kills
    # the rollout stalls: old pods keep serving, minus maxUnavailable
    assert all(int(m.ready[0]) == 3 for m in ms)
    assert bool(ms[-1].rolling[0])
    # a fresh deployment with a too-small heap serves nothing
    st2 = vs.init_state(params, 1, 2, 0.6, live * 0.5)
    ms2 = _run(params, st2, 10.0, 2, 0.6, live * 0.5, 6)
    assert all(int(m.ready[0]) == 0 for m in ms2)
    assert sum(float(m.served[0]) for m in ms2) == 0.0
    assert sum(int(m.oom_kills[0]) for m in ms2) >= 2


def test_conservation_and_cost_from_requests() -> None:
    params = vs.teastore_vertical()
    n = 8
    rng = np.random.default_rng(1)
    st = vs.init_state(
        params, n, rng.integers(1, 9, n), rng.choice([0.3, 0.6, 0.9], n), rng.choice([200.0, 700.0], n)
    )
    backlog = st.backlog.copy()
    for _t in range(30):
        r = rng.integers(1, 9, n)
        cpu = rng.choice([0.3, 0.6, 0.9], n)
        heap = rng.choice([200.0, 700.0], n)
        st, m = vs.step(params, st, rng.uniform(10, 400, n), r, cpu, heap, rng)
        np.testing.assert_allclose(
            m.served + m.dropped + m.backlog, backlog + m.offered, rtol=1e-9, atol=1e-6
        )
        backlog = m.backlog.copy()
        assert np.all(m.cost_usd > 0)
        assert np.all(m.violating <= m.served + 1e-9)
    # cost scales with the CPU request
    a = vs.init_state(params, 1, 2, 0.3, 700.0)
    b = vs.init_state(params, 1, 2, 0.9, 700.0)
    _, ma = vs.step(params, a, np.array([0.0]), np.array([2]), np.array([0.3]), np.array([700.0]), rng)
    _, mb = vs.step(params, b, np.array([0.0]), np.array([2]), np.array([0.9]), np.array([700.0]), rng)
    assert mb.cost_usd[0] > ma.cost_usd[0] and mb.cpu_core_seconds[0] == pytest.approx(
        3 * ma.cpu_core_seconds[0]
    )
