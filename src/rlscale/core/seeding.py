"""One way to turn a seed into randomness, so runs repeat exactly."""

from __future__ import annotations

import numpy as np


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A PCG64 generator from a seed (or pass a generator through unchanged)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
