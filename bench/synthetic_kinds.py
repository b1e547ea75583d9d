"""How bursty each synthetic kind is next to the real traces' TRAIN parts, per 2-hour
training window at 15 s (the trainer's window): coefficient of variation, peak/mean, the
largest one-step rise relative to the window mean, the share of idle (zero) steps, and the
lag-1 autocorrelation. Medians over windows; the test parts are never read. Prints JSON;
``--plot`` draws one panel per kind (three seeds, each scaled to its peak).

    .venv/bin/python bench/synthetic_kinds.py [--windows 48] [--plot docs/img/synthetic_kinds.png]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rlscale.workload import GENERATORS, fill_gaps, standard_split, synthetic, windows
from rlscale.workload.seeds import training_seeds

STEP_S = 15.0
WINDOW_STEPS = 480  # agents.train.TrainConfig.window_steps: 2 h at 15 s
REAL_TRACES = ("nasa", "twitter-15s", "alibaba-lora", "alibaba-gateway")


def window_stats(w: np.ndarray) -> dict[str, float]:
    mean = float(w.mean())
    x = w - mean
    denom = float(np.dot(x, x))
    return {
        "cv": float(w.std() / mean) if mean > 0 else float("nan"),
        "peak_to_mean": float(w.max() / mean) if mean > 0 else float("nan"),
        "max_rise_to_mean": float(np.max(np.diff(w)) / mean) if mean > 0 else float("nan"),
        "idle_fraction": float(np.mean(w == 0)),
        "lag1_autocorrelation": float(np.dot(x[:-1], x[1:]) / denom) if denom > 0 else float("nan"),
    }


def summary(ws: list[np.ndarray]) -> dict[str, float]:
    rows = [window_stats(w) for w in ws]
    return {k: round(float(np.nanmedian([r[k] for r in rows])), 3) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", type=int, default=48, help="windows per kind or trace")
    ap.add_argument("--plot", default=None, help="write the per-kind panel figure here (PNG)")
    args = ap.parse_args()

    seeds = training_seeds(0, args.windows)
    out: dict[str, dict[str, dict[str, float]]] = {"synthetic": {}, "real_train_parts": {}}
    for kind in sorted(GENERATORS):
        out["synthetic"][kind] = summary([synthetic(kind, WINDOW_STEPS, STEP_S, s) for s in seeds])
    for name in REAL_TRACES:
        train, _test = standard_split(name, step_s=STEP_S)  # the test part is never read
        try:
            ws = windows(train, WINDOW_STEPS, count=args.windows, rng=0)
        except ValueError:
            ws = windows(fill_gaps(train), WINDOW_STEPS, count=args.windows, rng=0)
        out["real_train_parts"][name] = summary(ws)
    print(json.dumps(out, indent=1))
    if args.plot:
        plot(args.plot)


def plot(path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted(GENERATORS)
    cols = 4
    rows = -(-len(kinds) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 1.9 * rows), sharex=True, sharey=True)
    t_h = np.arange(WINDOW_STEPS) * STEP_S / 3600.0
    for ax, kind in zip(axes.ravel(), kinds, strict=False):
        for seed in range(3):
            r = synthetic(kind, WINDOW_STEPS, STEP_S, seed)
            ax.plot(t_h, r / r.max(), lw=0.8)
        ax.set_title(kind, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(kinds) :]:
        ax.axis("off")
    fig.supxlabel("hours (15-s steps); seeds 0, 1, 2, each scaled to its peak", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=60)


if __name__ == "__main__":
    main()
