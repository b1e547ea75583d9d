"""Seed 000's LSTM load forecaster (app/dqn/predictor_network.py, predictor_utils.py),
trained offline on the training windows instead of online inside the env.

Differences from the seed, and why:
- it predicts the mean rate over the start-up horizon (what a pod started now will face),
  not the next 15 s;
- inputs are scale-free: the last ``history_steps`` rates divided by their mean, in log
  space, so one model serves a 1 req/s and a 10,000 req/s trace;
- it is trained once on many training windows (seed: one Adam step per 8 live samples).
The forecast is blended with the linear trend as in the seed:
``last + w·(model − last) + (1 − w)·trend_extrapolation`` (seed: w = 0.7).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscale.core.atomic_file import write_dir_atomic
from rlscale.nets.forecaster import (
    CONFIG_FILE,
    HISTORY_STEPS,
    MODEL_WEIGHT,
    WEIGHTS_FILE,
    blend,
    denormalise,
    normalise_history,
    rate_eps,
)
from rlscale.nets.modules import LSTMForecasterNet


@dataclass
class ForecasterConfig:
    horizon_steps: int = 4  # 60 s at 15-s steps: the web preset's start-up delay is 30–60 s
    history_steps: int = HISTORY_STEPS
    hidden: int = 64
    num_layers: int = 2
    model_weight: float = MODEL_WEIGHT
    train_steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 1e-3  # seed 000
    seed: int = 0
    training_data: list[str] = field(default_factory=list)


def make_examples(
    rates: np.ndarray, history_steps: int, horizon_steps: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding (history, future-mean) pairs from one gap-free rate series."""
    x = np.asarray(rates, dtype=np.float64)
    last_start = x.size - history_steps - horizon_steps
    if last_start < 0:
        return np.zeros((0, history_steps)), np.zeros(0)
    starts = np.arange(0, last_start + 1, stride)
    hist = np.lib.stride_tricks.sliding_window_view(x, history_steps)[starts]
    fut = np.lib.stride_tricks.sliding_window_view(x[history_steps:], horizon_steps)[starts].mean(axis=1)
    return hist, fut


class LSTMForecaster:
    """Batched forecaster of the mean rate over the next ``horizon_steps``."""

    def __init__(self, config: ForecasterConfig | None = None) -> None:
        self.config = config or ForecasterConfig()
        torch.manual_seed(self.config.seed)
        self.net = LSTMForecasterNet(self.config.hidden, self.config.num_layers)
        self.train_seconds = 0.0

    def fit(self, series: Sequence[np.ndarray], *, log_every: int = 0) -> list[float]:
        """Train on gap-free rate series (training windows only). Returns the loss curve."""
        cfg = self.config
        for i, s in enumerate(series):
            if not np.all(np.isfinite(s)) or np.any(np.asarray(s) < 0):
                raise ValueError(f"LSTMForecaster.fit: series {i} has negative or non-finite rates")
        pairs = [make_examples(s, cfg.history_steps, cfg.horizon_steps) for s in series]
        hist = np.concatenate([p[0] for p in pairs])
        fut = np.concatenate([p[1] for p in pairs])
        if hist.shape[0] == 0:
            raise ValueError("LSTMForecaster.fit: no series is longer than history + horizon")
        z, scale = normalise_history(hist)
        target = np.log((fut[:, None] + rate_eps(hist)) / scale)[:, 0]
        rng = np.random.default_rng(cfg.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        zt = torch.as_tensor(z, dtype=torch.float32)
        tt = torch.as_tensor(target, dtype=torch.float32)
        losses: list[float] = []
        t0 = time.perf_counter()
        self.net.train()
        for step in range(cfg.train_steps):
            idx = torch.as_tensor(rng.integers(0, zt.shape[0], cfg.batch_size))
            pred = self.net(zt[idx])
            loss = torch.nn.functional.mse_loss(pred, tt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)  # seed 000: grad-clip 1.0
            opt.step()
            losses.append(float(loss.detach()))
            if log_every and step % log_every == 0:
                print(f"forecaster step {step}: loss {np.mean(losses[-log_every:]):.4f}")
        self.net.eval()
        self.train_seconds = time.perf_counter() - t0
        return losses

    def model_forecast(self, hist: np.ndarray) -> np.ndarray:
        """The LSTM's own prediction (req/s) for ``(n, history_steps)`` histories."""
        hist = np.asarray(hist, dtype=np.float64)
        z, scale = normalise_history(hist)
        out = np.empty(hist.shape[0])
        with torch.no_grad():
            for i in range(0, hist.shape[0], 8192):
                out[i : i + 8192] = self.net(torch.as_tensor(z[i : i + 8192], dtype=torch.float32)).numpy()
        return denormalise(out, hist, scale)

    def forecast(self, hist: np.ndarray) -> np.ndarray:
        """Blended forecast (req/s): last + w·(model − last) + (1 − w)·trend over the horizon."""
        hist = np.asarray(hist, dtype=np.float64)
        cfg = self.config
        return blend(hist, self.model_forecast(hist), cfg.horizon_steps, cfg.model_weight)

    def forecast_series(self, rates: np.ndarray, *, blended: bool = True) -> np.ndarray:
        """ŷ[t] for every t of a series with a full history (NaN before), using data ≤ t."""
        x = np.asarray(rates, dtype=np.float64)
        h = self.config.history_steps
        out = np.full(x.size, np.nan)
        if x.size >= h:
            hist = np.lib.stride_tricks.sliding_window_view(x, h)
            out[h - 1 :] = self.forecast(hist) if blended else self.model_forecast(hist)
        return out

    # -------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """``path/`` = forecaster.safetensors + forecaster.json, written atomically."""
        from safetensors.numpy import save_file

        tensors = {k: v.detach().cpu().numpy().copy() for k, v in self.net.state_dict().items()}
        meta = {"kind": "lstm_forecaster", "config": asdict(self.config), "train_seconds": self.train_seconds}

        def write(tmp: Path) -> None:
            save_file(tensors, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )

        return write_dir_atomic(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LSTMForecaster:
        from safetensors.numpy import load_file

        root = Path(path)
        try:
            meta: dict[str, Any] = json.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))
            config = ForecasterConfig(**meta["config"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{root / CONFIG_FILE}: not a forecaster description ({exc})") from exc
        model = cls(config)
        try:
            state = {k: torch.as_tensor(v) for k, v in load_file(str(root / WEIGHTS_FILE)).items()}
            model.net.load_state_dict(state)
        except Exception as exc:
            raise ValueError(f"{root / WEIGHTS_FILE}: cannot load weights ({exc})") from exc
        model.net.eval()
        return model
