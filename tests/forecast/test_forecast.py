"""Forecaster and baselines: targets, seasonal-naive and Holt-Winters by hand, and an LSTM
that learns a pattern the naive forecast cannot (a steady ramp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlscale.forecast.baselines import HoltWinters, horizon_mean_target, seasonal_naive
from rlscale.forecast.lstm import ForecasterConfig, LSTMForecaster, make_examples


def test_horizon_mean_target() -> None:
    y = horizon_mean_target(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 2)
    np.testing.assert_allclose(y[:3], [2.5, 3.5, 4.5])
    assert np.isnan(y[3:]).all()


def test_seasonal_naive_repeats_last_season() -> None:
    x = np.tile(np.array([1.0, 5.0, 3.0]), 4)
    pred = seasonal_naive(x, 1, 3)
    y = horizon_mean_target(x, 1)
    ok = np.isfinite(pred) & np.isfinite(y)
    np.testing.assert_allclose(pred[ok], y[ok])


def test_holt_winters_tracks_seasonal_plus_trend() -> None:
    t = np.arange(400, dtype=float)
    x = 50 + 0.1 * t + 10 * np.sin(2 * np.pi * t / 20)
    pred = HoltWinters(0.5, 0.1, 0.3, 20).forecast(x, 2)
    y = horizon_mean_target(x, 2)
    err = np.abs(pred[200:-2] - y[200:-2])
    assert err.mean() < 0.5  # the level-only naive error here is ~3


def test_make_examples() -> None:
    hist, fut = make_examples(np.arange(10.0), 4, 2)
    np.testing.assert_allclose(hist[0], [0, 1, 2, 3])
    np.testing.assert_allclose(fut[:2], [4.5, 5.5])
    assert hist.shape == (5, 4)


def test_lstm_learns_ramps_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    series = [np.linspace(a, b, 60) for a, b in rng.uniform(10, 100, size=(80, 2))]
    model = LSTMForecaster(ForecasterConfig(horizon_steps=4, train_steps=300, seed=0))
    losses = model.fit(series)
    assert np.mean(losses[-30:]) < 0.5 * np.mean(losses[:30])
    test = np.linspace(20, 80, 40)
    hist = np.lib.stride_tricks.sliding_window_view(test, 16)[:-4]
    truth = np.array([test[i + 16 : i + 20].mean() for i in range(hist.shape[0])])
    lstm_err = np.abs(model.model_forecast(hist) - truth).mean()
    naive_err = np.abs(hist[:, -1] - truth).mean()
    assert lstm_err < 0.6 * naive_err
    model.save(tmp_path / "fc")
    again = LSTMForecaster.load(tmp_path / "fc")
    np.testing.assert_allclose(again.forecast(hist), model.forecast(hist), rtol=1e-6)
    (tmp_path / "fc" / "forecaster.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"forecaster\.json"):
        LSTMForecaster.load(tmp_path / "fc")
