"""Forecast baselines for the LSTM to beat (bench/forecast.py): seasonal-naive and additive
Holt-Winters (ETS(A,A,A)) in NumPy — statsmodels is not a dependency, and the recursion is
a dozen lines. Every forecaster here predicts the *mean rate over the next ``horizon_steps``*
(the start-up horizon: what a new pod will face when it becomes ready), for every ``t``
using data up to and including ``t`` only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def horizon_mean_target(rates: np.ndarray, horizon_steps: int) -> np.ndarray:
    """y[t] = mean(rates[t+1 .. t+h]); NaN for the last ``h`` steps (no future there)."""
    x = np.asarray(rates, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(x)])
    y = np.full(x.size, np.nan)
    n = x.size - horizon_steps
    if n > 0:
        y[:n] = (c[horizon_steps + 1 : horizon_steps + 1 + n] - c[1 : 1 + n]) / horizon_steps
    return y


def seasonal_naive(rates: np.ndarray, horizon_steps: int, season_steps: int) -> np.ndarray:
    """ŷ[t] = mean(rates[t+1−S .. t+h−S]): the same horizon one season earlier (NaN before)."""
    x = np.asarray(rates, dtype=np.float64)
    # shift the horizon means, not the rates: a cumulative sum over NaN-padded rates is NaN
    # from the first pad on, which left no step to score
    y = horizon_mean_target(x, horizon_steps)
    out = np.full(x.size, np.nan)
    if 0 < season_steps < x.size:
        out[season_steps:] = y[:-season_steps]
    return out


def last_value(rates: np.ndarray) -> np.ndarray:
    """ŷ[t] = rates[t] (the naive forecast; what the observation holds without a forecaster)."""
    return np.asarray(rates, dtype=np.float64).copy()


@dataclass(frozen=True)
class HoltWinters:
    """Additive Holt-Winters (level α, trend β, season γ, period ``season_steps``)."""

    alpha: float
    beta: float
    gamma: float
    season_steps: int

    def forecast(self, rates: np.ndarray, horizon_steps: int) -> np.ndarray:
        """One pass over ``rates``; ŷ[t] = mean over k=1..h of (ℓ_t + k·b_t + s_{t+k−S})."""
        x = np.asarray(rates, dtype=np.float64)
        s_len = self.season_steps
        n = x.size
        if n < 2 * s_len:
            raise ValueError(f"Holt-Winters needs two seasons of data ({2 * s_len} steps), got {n}")
        season = x[:s_len] - x[:s_len].mean()
        level = float(x[:s_len].mean())
        trend = float((x[s_len : 2 * s_len].mean() - x[:s_len].mean()) / s_len)
        seas = np.concatenate([season, np.zeros(n)])  # seas[t] is the factor used at step t
        out = np.full(n, np.nan)
        a, b, g = self.alpha, self.beta, self.gamma
        ks = np.arange(1, horizon_steps + 1)
        for t in range(n):
            prev_level = level
            level = a * (x[t] - seas[t]) + (1 - a) * (level + trend)
            trend = b * (level - prev_level) + (1 - b) * trend
            seas[t + s_len] = g * (x[t] - level) + (1 - g) * seas[t]
            # seas[t+k] (k <= h <= S) was written at step t+k-S <= t: known at t
            out[t] = level + trend * (horizon_steps + 1) / 2 + float(np.mean(seas[t + ks]))
        return np.maximum(out, 0.0)


def fit_holt_winters(
    rates: np.ndarray,
    horizon_steps: int,
    season_steps: int,
    grid: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] = (
        (0.2, 0.5, 0.8),
        (0.0, 0.01),
        (0.05, 0.2),
    ),
) -> HoltWinters:
    """Grid-search (α, β, γ) on training data by horizon-mean MAE (training data only)."""
    y = horizon_mean_target(rates, horizon_steps)
    best, best_mae = None, np.inf
    for a in grid[0]:
        for b in grid[1]:
            for g in grid[2]:
                model = HoltWinters(a, b, g, season_steps)
                pred = model.forecast(rates, horizon_steps)
                ok = np.isfinite(pred) & np.isfinite(y)
                mae = float(np.mean(np.abs(pred[ok] - y[ok])))
                if mae < best_mae:
                    best, best_mae = model, mae
    assert best is not None
    return best
