"""Forecast accuracy of seed 000's LSTM (trained on the training splits only) against
seasonal-naive, Holt-Winters (ETS A,A,A, fitted on training data) and last-value, on the
test splits. Target: the mean rate over the start-up horizon. Prints JSON.

    .venv/bin/python bench/forecast.py [--train-steps 1500] [--out bench/forecast.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from rlscale.forecast.baselines import fit_holt_winters, horizon_mean_target, last_value, seasonal_naive
from rlscale.forecast.lstm import ForecasterConfig, LSTMForecaster
from rlscale.workload import fill_gaps, standard_split, windows

STEP_S = 15.0
DAY_STEPS = int(86_400 / STEP_S)
TRACES = ("nasa", "twitter", "alibaba-lora")


def _scored_mask(valid: np.ndarray, horizon: int, history: int) -> np.ndarray:
    """Steps whose history and horizon are all real data (no gap)."""
    bad = np.concatenate([[0], np.cumsum(~valid)])
    t = np.arange(valid.size)
    lo, hi = np.maximum(t - history - DAY_STEPS, 0), np.minimum(t + horizon + 1, valid.size)
    ok = (bad[hi] - bad[lo]) == 0
    ok[: history + DAY_STEPS] = False
    ok[valid.size - horizon :] = False
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--horizon-steps", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    splits = {name: standard_split(name, step_s=STEP_S) for name in TRACES}
    cfg = ForecasterConfig(horizon_steps=args.horizon_steps, train_steps=args.train_steps, seed=0)
    train_series = []
    for name, (train, _) in splits.items():
        train_series += windows(train, 480, count=200, rng=0)
        cfg.training_data.append(f"{name}:train")
    model = LSTMForecaster(cfg)
    t0 = time.perf_counter()
    model.fit(train_series)
    fit_s = time.perf_counter() - t0

    h = args.horizon_steps
    results: dict[str, dict[str, float]] = {}
    for name, (train, test) in splits.items():
        tr_x = fill_gaps(train).rate_rps
        te_x = fill_gaps(test).rate_rps
        # MASE scale: in-sample MAE of seasonal-naive on the training split (Hyndman & Koehler 2006)
        y_tr = horizon_mean_target(tr_x, h)
        sn_tr = seasonal_naive(tr_x, h, DAY_STEPS)
        ok_tr = _scored_mask(train.valid, h, cfg.history_steps) & np.isfinite(sn_tr) & np.isfinite(y_tr)
        scale = float(np.mean(np.abs(sn_tr[ok_tr] - y_tr[ok_tr])))
        hw = fit_holt_winters(tr_x[-7 * DAY_STEPS :], h, DAY_STEPS)
        # run HW over the last training days then the test split, so it starts warm
        joined = np.concatenate([tr_x[-2 * DAY_STEPS :], te_x])
        hw_pred = hw.forecast(joined, h)[2 * DAY_STEPS :]
        sn_pred = seasonal_naive(joined, h, DAY_STEPS)[2 * DAY_STEPS :]
        y = horizon_mean_target(te_x, h)
        preds = {
            "lstm_blended": model.forecast_series(te_x),
            "lstm_only": model.forecast_series(te_x, blended=False),
            "holt_winters": hw_pred,
            "seasonal_naive": sn_pred,
            "last_value": last_value(te_x),
        }
        ok = _scored_mask(test.valid, h, cfg.history_steps) & np.isfinite(y)
        for p in preds.values():
            ok &= np.isfinite(p)
        row: dict[str, float] = {"scored_steps": int(ok.sum()), "mean_rate_rps": float(y[ok].mean())}
        for key, p in preds.items():
            mae = float(np.mean(np.abs(p[ok] - y[ok])))
            row[f"{key}_mae_rps"] = mae
            row[f"{key}_mase"] = mae / scale
        row["holt_winters_params"] = [hw.alpha, hw.beta, hw.gamma]  # type: ignore[assignment]
        results[name] = row
    out = {
        "bench": "forecast",
        "step_s": STEP_S,
        "horizon_steps": h,
        "season_steps": DAY_STEPS,
        "lstm_train_seconds": fit_s,
        "lstm_config": {k: v for k, v in cfg.__dict__.items() if k != "training_data"},
        "trained_on": cfg.training_data,
        "tested_on": [f"{n}:test" for n in TRACES],
        "traces": results,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
