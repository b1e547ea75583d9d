"""Episode seeding and sampling shared by the single-env envs (vertical, offline TeaStore, pools)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_episode(rng: np.random.Generator, windows: Sequence[np.ndarray], episode_steps: int) -> np.ndarray:
    """A uniformly drawn window, then a uniformly drawn start inside it: one episode's load."""
    window = windows[int(rng.integers(len(windows)))]
    start = int(rng.integers(0, len(window) - episode_steps + 1))
    return window[start : start + episode_steps]


def episode_rng(rng: np.random.Generator, seed: int | None) -> np.random.Generator:
    """Gymnasium's ``reset(seed=...)``: a new stream for a seed, else the env's own, continued."""
    return rng if seed is None else np.random.default_rng(seed)
