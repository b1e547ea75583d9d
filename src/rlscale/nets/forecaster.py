"""Torch-free inference of seed 000's LSTM load forecaster (trained by
:mod:`rlscale.forecast.lstm`), so a policy that sees a forecast can be served live.

The files are the trainer's: ``forecaster.safetensors`` (PyTorch ``nn.LSTM`` + ``nn.Linear``
state dict, read with ``safetensors.numpy``: nothing is unpickled) and ``forecaster.json``
(its config). The arithmetic below is PyTorch's LSTM (gate order i, f, g, o) in float32; a
test checks it against the torch model. The input normalisation and the trend blend live
here too, and the trainer uses them, so training and serving cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_FILE = "forecaster.safetensors"
CONFIG_FILE = "forecaster.json"
#: Key prefix of a forecaster's tensors stored inside a policy checkpoint (nets.checkpoint).
TENSOR_PREFIX = "forecaster."
#: seed 000 predictor_utils.py: the model sees the last 16 rates.
HISTORY_STEPS = 16
#: seed 000: forecast = last + 0.7·Δ_model + 0.3·trend, trend = (x[-1] − x[-4]) / 3.
MODEL_WEIGHT = 0.7
TREND_LAG = 3


class ForecasterError(ValueError):
    """A forecaster directory that cannot be used (missing, corrupt or inconsistent files)."""


def rate_eps(hist: np.ndarray) -> np.ndarray:
    """A per-series floor that keeps the log of an all-zero history finite."""
    return 1e-3 + 1e-3 * np.abs(hist).mean(axis=-1, keepdims=True)


def normalise_history(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale-free model input: ``log(rate / mean rate)`` per series; returns it and the scale."""
    scale = hist.mean(axis=1, keepdims=True) + rate_eps(hist)
    return np.log((hist + rate_eps(hist)) / scale), scale


def denormalise(z: np.ndarray, hist: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Model output (normalised log) back to req/s, never below zero."""
    return np.maximum(np.exp(z) * scale[:, 0] - rate_eps(hist)[:, 0], 0.0)


def blend(hist: np.ndarray, model_rps: np.ndarray, horizon_steps: int, model_weight: float) -> np.ndarray:
    """Seed 000's blend: ``w·model + (1 − w)·(last + trend·(h + 1)/2)``, never below zero."""
    last = hist[:, -1]
    trend = (hist[:, -1] - hist[:, -1 - TREND_LAG]) / TREND_LAG
    trend_term = last + trend * (horizon_steps + 1) / 2
    return np.maximum(model_weight * model_rps + (1 - model_weight) * trend_term, 0.0)


@dataclass(frozen=True, eq=False)
class LoadForecaster:
    """The blended forecast of the mean rate over the next ``horizon_steps`` periods."""

    tensors: dict[str, np.ndarray]
    num_layers: int
    horizon_steps: int
    history_steps: int = HISTORY_STEPS
    model_weight: float = MODEL_WEIGHT

    def model_forecast(self, hist: np.ndarray) -> np.ndarray:
        """The LSTM's own prediction (req/s) for ``(n, history_steps)`` histories."""
        hist = np.asarray(hist, dtype=np.float64)
        z, scale = normalise_history(hist)
        n, steps = z.shape
        x = np.ascontiguousarray(z.T, dtype=np.float32).reshape(steps * n, 1)  # time-major rows
        for layer in range(self.num_layers):
            w_ih = self.tensors[f"lstm.weight_ih_l{layer}"]
            w_hh_t = np.ascontiguousarray(self.tensors[f"lstm.weight_hh_l{layer}"].T)
            bias = self.tensors[f"lstm.bias_ih_l{layer}"] + self.tensors[f"lstm.bias_hh_l{layer}"]
            hidden = w_hh_t.shape[0]
            # sigmoid(v) = (1 + tanh(v/2)) / 2: one tanh over all four gates (i, f, o use the
            # halved form, g the plain tanh), then an affine map back
            gate_scale = np.full(4 * hidden, 0.5, dtype=np.float32)
            gate_scale[2 * hidden : 3 * hidden] = 1.0
            gate_shift = np.where(gate_scale == 0.5, 0.5, 0.0).astype(np.float32)
            # the input part of every step in one product: (T, n, 4H)
            pre = ((x @ w_ih.T + bias) * gate_scale).reshape(steps, n, 4 * hidden)
            h = np.zeros((n, hidden), dtype=np.float32)
            c = np.zeros_like(h)
            outs = np.empty((steps, n, hidden), dtype=np.float32)
            for t in range(steps):
                act = np.tanh(pre[t] + (h @ w_hh_t) * gate_scale) * gate_scale + gate_shift
                i, f, g, o = (act[:, k * hidden : (k + 1) * hidden] for k in range(4))
                c = f * c + i * g
                h = outs[t] = o * np.tanh(c)
            x = outs.reshape(steps * n, hidden)
        residual = h @ self.tensors["fc.weight"].T + self.tensors["fc.bias"]
        out = z[:, -1] + residual[:, 0].astype(np.float64)
        return denormalise(out, hist, scale)

    def forecast(self, hist: np.ndarray) -> np.ndarray:
        """Blended forecast (req/s) for ``(n, history_steps)`` histories (oldest first)."""
        hist = np.asarray(hist, dtype=np.float64)
        return blend(hist, self.model_forecast(hist), self.horizon_steps, self.model_weight)

    def prefixed_tensors(self) -> dict[str, np.ndarray]:
        """The weights keyed as a policy checkpoint stores them (:data:`TENSOR_PREFIX`)."""
        return {TENSOR_PREFIX + k: v for k, v in self.tensors.items()}

    def config(self) -> dict[str, Any]:
        """What :func:`forecaster_from_tensors` needs besides the tensors (JSON-safe)."""
        return {
            "horizon_steps": self.horizon_steps,
            "history_steps": self.history_steps,
            "num_layers": self.num_layers,
            "model_weight": self.model_weight,
        }


def forecaster_from_tensors(
    tensors: Mapping[str, np.ndarray], config: Mapping[str, Any], where: str, prefix: str = ""
) -> LoadForecaster:
    """A :class:`LoadForecaster` from its state dict (keys under ``prefix``) and config; raises
    :class:`ForecasterError` naming ``where`` and the problem."""
    try:
        num_layers, horizon = int(config["num_layers"]), int(config["horizon_steps"])
        history, weight = int(config["history_steps"]), float(config["model_weight"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ForecasterError(f"{where}: bad forecaster config ({exc!r})") from exc
    if history <= TREND_LAG or horizon < 1 or num_layers < 1 or not np.isfinite(weight):
        raise ForecasterError(
            f"{where}: bad forecaster config (history_steps {history}, horizon_steps {horizon}, "
            f"num_layers {num_layers}, model_weight {weight})"
        )
    own = {
        k[len(prefix) :]: np.asarray(v, dtype=np.float32) for k, v in tensors.items() if k.startswith(prefix)
    }
    gates = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    needed = [f"lstm.{g}_l{k}" for k in range(num_layers) for g in gates] + ["fc.weight", "fc.bias"]
    missing = [prefix + k for k in needed if k not in own]
    if missing:
        raise ForecasterError(f"{where}: missing forecaster tensors {missing}")
    bad_rank = [prefix + k for k in needed if own[k].ndim != (1 if "bias" in k else 2)]
    if bad_rank:
        raise ForecasterError(f"{where}: forecaster tensors of the wrong rank: {bad_rank}")
    hidden = own["lstm.weight_hh_l0"].shape[-1]
    for k in range(num_layers):
        shapes = {
            "weight_ih": (4 * hidden, 1 if k == 0 else hidden),
            "weight_hh": (4 * hidden, hidden),
            "bias_ih": (4 * hidden,),
            "bias_hh": (4 * hidden,),
        }
        for g, shape in shapes.items():
            if own[f"lstm.{g}_l{k}"].shape != shape:
                got = own[f"lstm.{g}_l{k}"].shape
                raise ForecasterError(f"{where}: {prefix}lstm.{g}_l{k} has shape {got}, expected {shape}")
    if own["fc.weight"].shape != (1, hidden) or own["fc.bias"].shape != (1,):
        raise ForecasterError(
            f"{where}: {prefix}fc has shapes {own['fc.weight'].shape}, {own['fc.bias'].shape}"
        )
    if not all(np.isfinite(v).all() for v in own.values()):
        raise ForecasterError(f"{where}: forecaster weights contain NaN or Inf")
    return LoadForecaster({k: own[k] for k in needed}, num_layers, horizon, history, weight)


def load_forecaster(path: str | os.PathLike[str]) -> LoadForecaster:
    """Read a forecaster directory written by :meth:`rlscale.forecast.lstm.LSTMForecaster.save`;
    raises :class:`ForecasterError` naming the file and the problem."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    cfg_path, weights_path = root / CONFIG_FILE, root / WEIGHTS_FILE
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ForecasterError(f"{cfg_path}: not a forecaster description ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("kind") != "lstm_forecaster":
        raise ForecasterError(f"{cfg_path}: not an lstm_forecaster description")
    try:
        tensors = load_file(str(weights_path))
    except (OSError, SafetensorError) as exc:
        raise ForecasterError(f"{weights_path}: cannot read weights ({exc})") from exc
    return forecaster_from_tensors(tensors, meta.get("config", {}), str(root))
