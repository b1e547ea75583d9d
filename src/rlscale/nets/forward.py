"""NumPy inference of the dense networks stored in checkpoints (no torch: the live path).

A checkpoint's ``network.layers`` is a list of ``{weight, bias, activation}``; the output
of the last layer is the action head: logits / Q-values (``argmax``) or a continuous mean
(``box``, clipped to ``network.low``/``network.high``). Deterministic, as a controller must be.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "none":
        return x
    raise ValueError(f"unknown activation {name!r}")


def mlp_forward(
    tensors: Mapping[str, np.ndarray], layers: Sequence[Mapping[str, Any]], observations: np.ndarray
) -> np.ndarray:
    """Raw network output for a ``(n, D)`` batch, float32 (same arithmetic as torch's Linear)."""
    x = np.asarray(observations, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    for layer in layers:
        w = tensors[layer["weight"]]
        b = tensors[layer["bias"]]
        x = _activate(x @ w.T + b, layer["activation"])
    return x


def deterministic_action(raw: np.ndarray, network: Mapping[str, Any]) -> np.ndarray:
    """The greedy action from the network output: argmax index (int64, ``(n,)``) for
    discrete heads — one per part, ``(n, len(nvec))``, when ``network["nvec"]`` says the
    output is several discrete actions' logits side by side (SB3 MultiDiscrete) — and the
    clipped mean (float32, ``(n, k)``) for continuous ones."""
    if network["head"] == "argmax":
        if "nvec" in network:
            bounds = np.cumsum([0, *network["nvec"]])
            return np.stack([np.argmax(raw[:, a:b], axis=1) for a, b in itertools.pairwise(bounds)], axis=1)
        return np.argmax(raw, axis=1).astype(np.int64)
    low = np.asarray(network.get("low", -np.inf), dtype=np.float32)
    high = np.asarray(network.get("high", np.inf), dtype=np.float32)
    if network.get("rescale", False):  # SAC/TD3 actors end in tanh: map [-1, 1] onto [low, high]
        raw = low + (raw + 1.0) * 0.5 * (high - low)
    return np.clip(raw, low, high).astype(np.float32)
