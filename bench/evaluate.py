"""Throughput of a full evaluation (issues 3 and 16): policy-steps per second, JSON.

One policy-step = one policy deciding for one env for one 15-s step, simulated, recorded and
scored. The batched harness runs every policy × window × seed of a trace in one ``sim.step``
per step. Defaults: the default comparison (``rlscale evaluate`` with no --policy: the HPA, its
12-point frontier, KEDA, KPA, predictive, the shipped learned policy and the oracle) plus
threshold and static, on 4 windows of 6 h of the bundled NASA test split, 5 seeds (the
default run's shape), pinned to one core.

    .venv/bin/python bench/evaluate.py [--windows 4] [--window-hours 6] [--seeds 5] [--policy SPEC ...]
    .venv/bin/python bench/evaluate.py --long   # NASA whole (62 days per minute): frontier + learned + oracle
"""

from __future__ import annotations

import os

# one core: no BLAS/OpenMP threads, and the process pinned to one CPU (before numpy loads)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from rlscale.evaluation import batch  # noqa: E402
from rlscale.evaluation.harness import EvaluateConfig, prepare, run  # noqa: E402
from rlscale.evaluation.report import write_report  # noqa: E402
from rlscale.evaluation.specs import DEFAULT_POLICIES  # noqa: E402

#: --long: the Done-when run of issue 16 (the full frontier, the learned policy, the oracle).
LONG_POLICIES = ["hpa-frontier", "learned", "oracle"]
#: The default comparison plus the two kinds it leaves out, so every policy kind is in the mix.
MIX_POLICIES = [*DEFAULT_POLICIES, "threshold", "static:replicas=8"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", default="nasa")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--window-hours", type=float, default=6.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--policy", action="append", default=[])
    parser.add_argument(
        "--long",
        action="store_true",
        help="the whole trace (no windows) with the frontier, learned and oracle",
    )
    parser.add_argument(
        "--chunk-hours", type=float, default=None, help="with --long: --chunk-hours of evaluate"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cfg = EvaluateConfig(
        traces=[args.trace],
        policies=args.policy or (LONG_POLICIES if args.long else MIX_POLICIES),
        seeds=args.seeds,
        windows=None if args.long else args.windows,
        window_hours=None if args.long else args.window_hours,
        chunk_hours=args.chunk_hours,
    )
    sim_s = 0.0
    run_batch = batch.run_batch

    def timed_run_batch(*a: object, **k: object) -> batch.Recorder:
        nonlocal sim_s
        t = time.perf_counter()
        out = run_batch(*a, **k)  # type: ignore[arg-type]
        sim_s += time.perf_counter() - t
        return out

    batch.run_batch = timed_run_batch  # type: ignore[assignment]
    t0 = time.perf_counter()
    prep = prepare(cfg)
    t1 = time.perf_counter()
    cpu1 = time.process_time()
    report, results = run(prep)
    cpu_s = time.process_time() - cpu1
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_report(Path(tmp) / "rep", report, results)
    t3 = time.perf_counter()
    policy_steps = sum(t.steps * t.windows for t in prep.traces) * args.seeds * len(prep.entries)
    print(
        json.dumps(
            {
                "bench": "evaluate",
                "trace": args.trace,
                "mode": "long" if args.long else "windows",
                "policies": len(prep.entries),
                "policy_kinds": sorted({e.label.split(":")[0] for e in prep.entries}),
                "windows": [t.windows for t in prep.traces],
                "steps_per_window": [t.steps for t in prep.traces],
                "seeds": args.seeds,
                "policy_steps": policy_steps,
                "prepare_s": round(t1 - t0, 3),
                "simulate_s": round(sim_s, 3),
                "metrics_s": round(t2 - t1 - sim_s, 3),
                "simulate_and_metrics_s": round(t2 - t1, 3),
                "report_s": round(t3 - t2, 3),
                "simulate_and_metrics_cpu_s": round(cpu_s, 3),
                # CPU time: the 2 cores here are shared, so wall time measures the neighbours too
                "policy_steps_per_cpu_s": round(policy_steps / cpu_s, 1),
                "policy_steps_per_s": round(policy_steps / (t2 - t1), 1),
                "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
