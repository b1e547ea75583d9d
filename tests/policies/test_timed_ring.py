"""TimedRing (policies._common): every-env views give what index arrays give (issue 16's
fast path must not change a number), and the buffer grows instead of dropping a kept entry."""

import numpy as np

from rlscale.policies._common import TimedRing


def _drive(use_none: bool, seed: int) -> list[np.ndarray]:
    """Irregular clocks, windows of several lengths: every windowed max, min and sum."""
    rng = np.random.default_rng(seed)
    n = 7
    ring = TimedRing(n, capacity=2)
    now = np.zeros(n)
    every = np.arange(n)
    seen = []
    for _ in range(120):
        now = now + rng.choice([5.0, 15.0, 15.0, 40.0], size=n)
        rows = None if use_none else every
        for window_s in (0.0, 30.0, 300.0):
            cutoff = now - window_s
            seen.append(ring.windowed(rows, cutoff, window_s > 0, np.iinfo(np.int64).min).max(axis=1))
            seen.append(ring.windowed(rows, cutoff, False, np.iinfo(np.int64).max).min(axis=1))
            seen.append(ring.windowed(rows, cutoff, False, 0).sum(axis=1))
        ring.store(rows, now, rng.integers(0, 50, size=n), now - 300.0)
    return seen


def test_every_env_views_equal_index_arrays():
    for seed in range(3):
        for a, b in zip(_drive(True, seed), _drive(False, seed), strict=True):
            np.testing.assert_array_equal(a, b)


def test_store_keeps_every_entry_inside_the_horizon():
    ring = TimedRing(2, capacity=1)
    for t in range(10):
        ring.store(None, np.full(2, 15.0 * t), np.array([t, 10 * t]), np.full(2, 15.0 * t - 300.0))
    # 10 stores within 300 s: nothing may be dropped, so the ring grew past its capacity of 1
    assert ring.times_s.shape[1] >= 10
    inside = ring.windowed(None, np.full(2, -1.0), False, 0)
    np.testing.assert_array_equal(inside.sum(axis=1), [45, 450])
    ring.store(np.array([1]), np.array([1000.0]), np.array([7]), np.array([700.0]))
    np.testing.assert_array_equal(ring.windowed(None, np.full(2, 700.0), True, -1).max(axis=1), [-1, 7])
