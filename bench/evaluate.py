"""Throughput of a full evaluation (issue 3 item 6): policy-steps per second, JSON.

One policy-step = one policy deciding for one env for one 15-s step, simulated and recorded
(the runner batches windows × seeds envs per policy). Defaults are the default comparison
(`rlscale evaluate` with no --policy) on a shorter slice of the bundled NASA test split.

    .venv/bin/python bench/evaluate.py [--windows 2] [--window-hours 2] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rlscale.evaluation.harness import EvaluateConfig, prepare, run
from rlscale.evaluation.report import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trace", default="nasa")
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--window-hours", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--policy", action="append", default=[])
    args = parser.parse_args()
    cfg = EvaluateConfig(
        traces=[args.trace],
        policies=args.policy,
        seeds=args.seeds,
        windows=args.windows,
        window_hours=args.window_hours,
    )
    t0 = time.perf_counter()
    prep = prepare(cfg)
    t1 = time.perf_counter()
    report, results = run(prep)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_report(Path(tmp) / "rep", report, results)
    t3 = time.perf_counter()
    steps = sum(t.steps for t in prep.traces)
    envs = prep.windows * args.seeds if prep.windows else args.seeds
    policy_steps = steps * envs * len(prep.entries)
    print(
        json.dumps(
            {
                "bench": "evaluate",
                "trace": args.trace,
                "policies": len(prep.entries),
                "num_envs_per_policy": envs,
                "steps_per_window": steps,
                "policy_steps": policy_steps,
                "prepare_s": round(t1 - t0, 3),
                "simulate_and_metrics_s": round(t2 - t1, 3),
                "report_s": round(t3 - t2, 3),
                "policy_steps_per_s": round(policy_steps / (t2 - t1), 1),
                "batched_steps_per_s": round(steps * len(prep.entries) / (t2 - t1), 1),
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
