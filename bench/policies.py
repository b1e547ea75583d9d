"""Policy speed: oracle planning on a long series and batched act() throughput. Prints JSON."""

from __future__ import annotations

import json
import time

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies import build_policy
from rlscale.policies.oracle import plan_oracle_schedule


def _signals(n: int, t: float, rng: np.random.Generator, desired: np.ndarray) -> ScalingSignals:
    return ScalingSignals(
        time_s=np.full(n, t),
        desired_replicas=desired.astype(np.float64),
        ready_replicas=desired.astype(np.float64),
        pending_replicas=np.zeros(n),
        request_rate_rps=rng.uniform(50, 1500, n),
        cpu_utilization=rng.uniform(0.1, 1.5, n),
        latency_p95_s=np.full(n, 0.1),
        backlog_requests=np.zeros(n),
        dropped_rps=np.zeros(n),
    )


def main() -> None:
    rng = np.random.default_rng(0)
    demand = rng.integers(0, 21, 100_000)
    t0 = time.perf_counter()
    plan_oracle_schedule(demand, 4, 1, 20)
    oracle_s = time.perf_counter() - t0
    service = ServiceSpec(name="bench", pod_capacity_rps=100.0, slo_latency_s=0.5)
    n, steps = 1024, 200
    result: dict[str, float] = {"oracle_plan_1e5_steps_s": round(oracle_s, 4)}
    for spec in ("hpa", "hpa:behavior=default", "keda", "kpa", "threshold", "predictive"):
        policy = build_policy(spec, service, n)
        desired = np.full(n, 5)
        t0 = time.perf_counter()
        for k in range(steps):
            desired = policy.act(_signals(n, 15.0 * k, rng, desired))
        result[f"{spec}_env_steps_per_s"] = round(n * steps / (time.perf_counter() - t0))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
