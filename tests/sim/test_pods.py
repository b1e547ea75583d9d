"""Per-pod start-up draws and the pod ledger (sim.pods)."""

from dataclasses import replace
from math import comb

import numpy as np
import pytest

from rlscale.sim import get_preset, init_state, signals, step
from rlscale.sim import pods as ledger

WEB = replace(get_preset("web"), poisson_arrivals=False)  # start-up U(30, 60) s, 15 s steps


def test_new_pods_of_one_scale_up_become_ready_at_independent_times():
    """2 -> 6 with U(30, 60) s delays: each new pod serves after 3 or 4 steps with
    probability 1/2 each, independently, so the count ready after 3 steps is Binomial(4, 1/2)
    (one shared draw would give only 0 or 4: 'some but not all' would never happen)."""
    n = 20_000
    rng = np.random.default_rng(17)
    state = init_state(WEB, n, 2, rng, initial_rate_rps=100.0)
    ready_after = []
    for _ in range(5):
        state, m = step(WEB, state, np.full(n, 100.0), np.full(n, 6), rng)
        ready_after.append(m.ready - 2)
    assert np.all(ready_after[2] == 0)  # nothing before 45 s
    assert np.all(ready_after[4] == 4)  # everything by 60 s
    new_at_3 = ready_after[3]
    observed = np.bincount(new_at_3, minlength=5) / n
    expected = np.array([comb(4, k) for k in range(5)]) / 16.0
    # 20,000 envs: the standard error of each share is <= 0.0036; 5 sigma
    np.testing.assert_allclose(observed, expected, atol=0.018)
    assert np.mean((new_at_3 > 0) & (new_at_3 < 4)) == pytest.approx(0.875, abs=0.01)


def test_scale_down_removes_latest_due_pending_then_latest_ready():
    params = replace(WEB, startup_delay_min_s=15.0, startup_delay_max_s=60.0)
    rng = np.random.default_rng(3)
    state = init_state(params, 1, 2, rng)
    for desired in (5, 8, 8):
        state, _ = step(params, state, np.array([50.0]), np.array([desired]), rng)
    before = state.pods[0].copy()
    assert np.all(np.diff(before[:8]) >= 0)  # the row is kept sorted
    state, m = step(params, state, np.array([50.0]), np.array([5]), rng)
    np.testing.assert_array_equal(state.pods[0][:5], before[:5])  # the three last keys went
    assert np.all(state.pods[0][5:] == ledger.EMPTY)
    assert m.ready[0] + m.pending[0] == 5


def test_pod_view_lists_ready_pods_with_their_times():
    params = replace(WEB, startup_delay_min_s=45.0, startup_delay_max_s=45.0)
    rng = np.random.default_rng(0)
    state = init_state(params, 2, 2, rng, initial_rate_rps=100.0)
    state, _ = step(params, state, np.full(2, 100.0), np.array([4, 2]), rng)  # t = 0 s: +2 pods
    view = signals(params, state).pods
    assert view is not None
    assert np.isneginf(view.ready_time_s[:, :2]).all() and np.isnan(view.ready_time_s[:, 2:]).all()
    for _ in range(2):
        state, _ = step(params, state, np.full(2, 100.0), np.array([4, 2]), rng)
    sig = signals(params, state)  # now = 45 s: the two new pods are ready since 45 s, started at 0
    assert sig.ready_replicas.tolist() == [4.0, 2.0]
    np.testing.assert_array_equal(sig.pods.ready_time_s[0, 2:4], [45.0, 45.0])
    np.testing.assert_array_equal(sig.pods.start_time_s[0, 2:4], [0.0, 0.0])
    assert np.isnan(sig.pods.ready_time_s[1, 2:]).all()
    # the CPU sample is one period old (metric_lag_steps = 1), stamped at its end
    np.testing.assert_array_equal(sig.pods.cpu_sample_time_s, [30.0, 30.0])
    np.testing.assert_array_equal(sig.pods.cpu_sample_window_s, [15.0, 15.0])


def test_signals_select_and_stack_keep_the_pod_view():
    params = replace(WEB, startup_delay_min_s=0.0, startup_delay_max_s=0.0)
    rng = np.random.default_rng(0)
    narrow = signals(params, init_state(params, 2, 1, rng))
    wide_params = replace(params, spec=replace(params.spec, max_replicas=30))
    wide = signals(wide_params, init_state(wide_params, 1, 3, rng))
    one = narrow.select(1)
    assert one.pods is not None and one.pods.ready_time_s.shape == (1, 20)
    both = type(narrow).stack([narrow, wide])
    assert both.pods is not None and both.pods.ready_time_s.shape == (3, 30)
    assert np.isneginf(both.pods.ready_time_s[2, :3]).all() and np.isnan(both.pods.ready_time_s[0, 1:]).all()
    assert type(narrow).stack([narrow, replace(wide, pods=None)]).pods is None


def test_count_ready_counts_keys_due_by_the_step():
    """The ready count (a product with ones, for speed) equals counting the keys one by one."""
    rng = np.random.default_rng(3)
    ready_step = rng.integers(-5, 40, size=(50, 12))
    keys = np.sort(ledger.key(ready_step, ready_step - 2), axis=1)
    keys[rng.random(keys.shape) < 0.3] = ledger.EMPTY
    keys.sort(axis=1)
    for step_index in (-6, 0, 17, 39, 40):
        expected = [
            sum(1 for k in row if k != ledger.EMPTY and (k >> 31) - (1 << 30) <= step_index) for row in keys
        ]
        counted = ledger.count_ready(keys, step_index)
        assert counted.dtype == np.int64
        np.testing.assert_array_equal(counted, expected)
