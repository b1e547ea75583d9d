"""A small valid checkpoint (tensors + metadata) shared by the nets tests."""

from __future__ import annotations

import numpy as np

from rlscale.core import OBSERVATION_FEATURES


def example(d: int = len(OBSERVATION_FEATURES), seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(seed)
    tensors = {
        "l0.weight": rng.normal(size=(8, d)).astype(np.float32),
        "l0.bias": rng.normal(size=8).astype(np.float32),
        "l1.weight": rng.normal(size=(5, 8)).astype(np.float32),
        "l1.bias": rng.normal(size=5).astype(np.float32),
    }
    meta = {
        "format_version": 1,
        "algorithm": "ppo",
        "observation_features": list(OBSERVATION_FEATURES),
        "action": {"mode": "utilization", "n": 5},
        "network": {
            "layers": [
                {"weight": "l0.weight", "bias": "l0.bias", "activation": "tanh"},
                {"weight": "l1.weight", "bias": "l1.bias", "activation": "none"},
            ],
            "head": "argmax",
        },
        "service": {"preset": "web"},
        "training": {"command": "rlscale train", "seed": 0},
        "versions": {"rlscale": "0.1.0"},
    }
    return tensors, meta
