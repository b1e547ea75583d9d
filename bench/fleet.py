"""Fleet evaluation throughput (issue 16), JSON: N synthetic services × 1 day at 15 s, run
locally (batched, one process) and with ``--ray local`` on W workers; Ray's per-task overhead;
and a scaling curve for more cores and machines that is MODELLED from these measurements,
not measured (only this machine's cores were available).

    .venv/bin/python bench/fleet.py [--services 200] [--seeds 3] [--workers 2] [--policy SPEC ...]

Each service is a CSV (``synthetic:<kind>?seed=i``, kinds in turn) in one directory, evaluated
as ``rlscale evaluate --trace DIR``: the fleet input path, fleet summary included.

Model (stated, Amdahl with a per-task cost): with ``C`` worker cores in total,
``T(C) = T_serial + T_fixed + (T_parallel + n_tasks · overhead) / C``, where ``T_serial`` is the
driver's own work (loading traces, building the report), ``T_parallel`` the simulate+metrics
time of the local run, ``overhead`` the measured cost of one empty Ray task, and ``T_fixed``
the measured start and stop of the local Ray. It assumes each added core is a free core (ideal
efficiency, an upper bound); the measured W-worker efficiency is reported beside it. Machines add cores (16 per machine
assumed); network transfer of results (~1 MB per service) is ignored below 1 GB/s links.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from rlscale.evaluation import harness, runner
from rlscale.evaluation.harness import EvaluateConfig, prepare
from rlscale.workload.registry import get_trace

KINDS = ("periodic", "spike", "ramp", "random", "flash-crowd")
DEFAULT_POLICIES = ["hpa", "hpa-frontier:lo=50,hi=90,step=20", "keda", "kpa", "predictive", "oracle"]
#: Cores per machine in the modelled curve.
CORES_PER_MACHINE = 16


def write_fleet(directory: Path, services: int, steps: int) -> None:
    for i in range(services):
        trace = get_trace(f"synthetic:{KINDS[i % len(KINDS)]}?seed={i}&steps={steps}", step_s=15.0)
        counts = np.round(trace.rate_rps * 15.0).astype(int)
        rows = "".join(f"{k * 15},{c}\n" for k, c in enumerate(counts))
        (directory / f"svc{i:04d}.csv").write_text("time_s,requests\n" + rows)


def timed(cfg: EvaluateConfig) -> tuple[float, float, dict]:
    """(wall time of prepare + run, wall time inside ``evaluate`` (simulate + metrics), report)."""
    inside = [0.0]
    evaluate = harness.evaluate

    def timed_evaluate(*a: object, **k: object) -> object:
        t = time.perf_counter()
        try:
            return evaluate(*a, **k)  # type: ignore[arg-type]
        finally:
            inside[0] += time.perf_counter() - t

    harness.evaluate = timed_evaluate  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        report, _ = harness.run(harness.prepare(cfg))
        return time.perf_counter() - t0, inside[0], report
    finally:
        harness.evaluate = evaluate  # type: ignore[assignment]


class ProcessTaskRunner:
    """The same batches on a local process pool (no Ray): the measured per-core scaling of the
    work's decomposition, for machines where Ray is not installed."""

    def __init__(self, processes: int) -> None:
        self.parallelism = processes

    def map(self, calls: list, sizes: list[int], advance: object) -> list:
        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(self.parallelism, mp_context=ctx) as pool:
            futures = [pool.submit(runner.run_traces, *args, **kw) for args, kw in calls]
            return [f.result() for f in futures]


def process_curve(base: dict, counts: list[int]) -> list[dict]:
    """Wall time of the evaluation (simulate + metrics) with 1..N local processes."""
    out = []
    for n in counts:
        prep = prepare(EvaluateConfig(**base))
        t0 = time.perf_counter()
        for group in prep.services:
            runner.evaluate(
                group.params,
                [prep.traces[i] for i in group.trace_indices],
                group.entries,
                base["seeds"],
                runner=ProcessTaskRunner(n),
            )
        out.append({"processes": n, "simulate_and_metrics_s": round(time.perf_counter() - t0, 2)})
    return out


def empty_task_overhead_s(workers: int, tasks: int = 400) -> float:
    """Wall time per no-op task through the same runner (scheduling, serialisation, wait)."""
    from rlscale.evaluation.distributed import RayTaskRunner

    with RayTaskRunner("local", num_cpus=workers) as ray_runner:
        ray_runner.map([((i,), {}) for i in range(workers)], [1] * workers, lambda _: None, fn=_noop)  # warm
        t0 = time.perf_counter()
        ray_runner.map([((i,), {}) for i in range(tasks)], [1] * tasks, lambda _: None, fn=_noop)
        return (time.perf_counter() - t0) * workers / tasks


def _noop(x: int) -> int:
    return x


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5760, help="steps per service (5760 = 1 day at 15 s)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--policy", action="append", default=[])
    parser.add_argument(
        "--processes", default="", help="also measure a local process pool with these sizes, e.g. 2,4,8,16"
    )
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run (Ray not installed)")
    parser.add_argument(
        "--task-overhead-ms", type=float, default=1.54, help="per-task cost for the model with --no-ray"
    )
    args = parser.parse_args()
    policies = args.policy or DEFAULT_POLICIES
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Path(tmp) / "fleet"
        fleet.mkdir()
        write_fleet(fleet, args.services, args.steps)
        base = {"traces": [str(fleet)], "policies": policies, "seeds": args.seeds}
        prep = prepare(EvaluateConfig(**base))
        policy_steps = sum(t.steps * t.windows for t in prep.traces) * args.seeds * len(prep.entries)
        local_s, local_eval_s, local = timed(EvaluateConfig(**base))
        out: dict = {
            "bench": "fleet",
            "services": args.services,
            "steps_per_service": args.steps,
            "seeds": args.seeds,
            "policies": len(prep.entries),
            "policy_steps": policy_steps,
            "local": {
                "wall_s": round(local_s, 2),
                "simulate_and_metrics_s": round(local_eval_s, 2),
                "policy_steps_per_s": round(policy_steps / local_eval_s),
            },
        }
        overhead_s = args.task_overhead_ms / 1000.0
        t_serial, t_parallel, t_fixed = local_s - local_eval_s, local_eval_s, 0.0
        if not args.no_ray:
            ray_s, ray_eval_s, remote = timed(EvaluateConfig(**base, ray="local", ray_cpus=args.workers))
            tasks = len(
                runner.plan_tasks(
                    prep.traces, prep.entries, args.seeds, min_tasks=runner.TASKS_PER_CPU * args.workers
                )
            )
            overhead_s = empty_task_overhead_s(args.workers)
            # the model's fixed cost per run: starting and stopping Ray, as measured; how far the
            # W workers fell short of T_parallel / W is reported, not modelled (on a machine whose
            # cores other jobs also use, it measures them)
            t_fixed = max(0.0, ray_s - ray_eval_s - t_serial)
            out["ray_local"] = {
                "workers": args.workers,
                "tasks": tasks,
                "wall_s": round(ray_s, 2),
                "simulate_and_metrics_s": round(ray_eval_s, 2),
                "ray_start_and_stop_s": round(ray_s - ray_eval_s - t_serial, 2),
                "policy_steps_per_s": round(policy_steps / ray_eval_s),
                "speedup_vs_local": round(local_eval_s / ray_eval_s, 2),
                "parallel_efficiency": round(t_parallel / (args.workers * ray_eval_s), 3),
                "fleet_summary_max_rel_diff": max_rel_diff(local["fleet"], remote["fleet"]),
            }
            out["ray_overhead_per_task_ms"] = round(1000 * overhead_s, 2)
        counts = [int(c) for c in args.processes.split(",") if c.strip()]
        if counts:
            measured = process_curve(base, counts)
            for row in measured:
                row["speedup_vs_local"] = round(local_eval_s / row["simulate_and_metrics_s"], 2)
                row["policy_steps_per_s"] = round(policy_steps / row["simulate_and_metrics_s"])
            out["process_pool_measured"] = measured
            if args.no_ray:
                last = measured[-1]
                t_fixed = max(0.0, last["simulate_and_metrics_s"] - t_parallel / last["processes"])
    curve = []
    for cores in (1, 2, 4, 8, 16, 160, 1600, 16000):
        t = t_serial + t_fixed + (t_parallel + len(prep.traces) * overhead_s) / cores
        curve.append(
            {
                "cores": cores,
                "machines": max(1, cores // CORES_PER_MACHINE),
                "modelled_s": round(t, 2),
                "modelled_policy_steps_per_s": round(policy_steps / t),
            }
        )
    out["model"] = {
        "note": "MODELLED, not measured: T(C) = T_serial + T_fixed + (T_parallel + tasks*overhead)/C, "
        "tasks = one per service at most",
        "t_serial_s": round(t_serial, 2),
        "t_parallel_s": round(t_parallel, 2),
        "t_fixed_s": round(t_fixed, 2),
        "task_overhead_ms": round(1000 * overhead_s, 2),
        "curve": curve,
    }
    out["cpu_count"] = os.cpu_count()
    print(json.dumps(out, indent=2))


def max_rel_diff(a: object, b: object) -> float:
    """Largest relative difference between the numbers of two equal-shaped JSON objects."""
    if isinstance(a, dict) and isinstance(b, dict):
        return max((max_rel_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return max((max_rel_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) / max(abs(a), abs(b), 1e-300)
    return 0.0 if a == b else float("inf")


if __name__ == "__main__":
    main()
