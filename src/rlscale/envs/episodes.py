"""Episode sampling shared by the single-service envs (vertical, offline TeaStore)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_episode(rng: np.random.Generator, windows: Sequence[np.ndarray], episode_steps: int) -> np.ndarray:
    """A uniformly drawn window, then a uniformly drawn start inside it: one episode's load."""
    window = windows[int(rng.integers(len(windows)))]
    start = int(rng.integers(0, len(window) - episode_steps + 1))
    return window[start : start + episode_steps]
