"""An event-level reference for the fast simulator (validation only, never the training path).

Why: the fast simulator replaces requests by a per-step law (Poisson count, M/M/c sojourn or a
fluid drain). This module simulates the same service request by request with SimPy, so the
law can be checked where it matters (near saturation, under bursts, under a scaler's
decisions): ``bench/fidelity.py`` compares the two.

The model, per request and per pod (DESIGN.md §3 without the per-step shortcuts):

- arrivals: a non-homogeneous Poisson process whose rate is ``rates_rps[t]`` during step
  ``t`` (piecewise constant, as the trace gives it);
- one FCFS queue in front of the ready pods, each pod one server with exponential service at
  ``mu`` (M/M/c while the pod count holds);
- scaling: ``desired[t]`` is applied at the start of step ``t``; a new pod serves from its own
  uniform start-up delay (continuous, not rounded to steps); a removal takes pending pods
  first (latest-due first), then the ready pods that became ready last; a removed pod
  finishes the request it is serving (graceful termination) and takes no other;
- a request still waiting ``request_timeout_s`` after it arrived is dropped, as is one that
  arrives to ``queue_bound_requests`` waiting ones;
- latency = ``base_latency_s`` + wait + service; a request fails the SLO when it is dropped
  or slower than ``slo_latency_s``; pods are billed from creation to removal.

Requests still queued at the end are neither served nor dropped (the fast simulator's final
backlog). Only the ``"mmc"`` latency model and scalar parameters are simulated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlscale.sim.params import ServiceParams


@dataclass(frozen=True)
class ReferenceResult:
    """One event-level run. ``step_*`` are per-step counts (by arrival step) for batch-means
    confidence intervals; latencies are those of served requests."""

    offered: int
    served: int
    dropped: int
    slow: int
    latencies_s: np.ndarray
    step_offered: np.ndarray
    step_failures: np.ndarray
    pod_seconds: float
    cost_usd: float

    @property
    def violation_rate(self) -> float:
        """(slow served + dropped) / (served + dropped): the request-level SLO violation rate
        as ``sim.rollout.summarize`` and the evaluation define it."""
        finished = self.served + self.dropped
        return (self.slow + self.dropped) / finished if finished else float("nan")

    def latency_quantile_s(self, q: float) -> float:
        return float(np.quantile(self.latencies_s, q)) if self.latencies_s.size else float("nan")


class _Pod:
    __slots__ = ("busy", "process", "ready_at", "removed")

    def __init__(self, ready_at: float) -> None:
        self.ready_at = ready_at
        self.busy = False
        self.removed = False
        self.process: Any = None


def simulate_reference(
    params: ServiceParams,
    rates_rps: np.ndarray,
    desired: np.ndarray,
    initial_replicas: int,
    seed: int,
) -> ReferenceResult:
    """Simulate ``len(rates_rps)`` steps request by request with SimPy (see the module
    docstring); ``desired[t]`` is the replica count asked for at the start of step ``t``
    (clamped to the spec's bounds)."""
    import simpy

    if params.latency_model != "mmc" or params.num_envs is not None:
        raise ValueError("simulate_reference: only the 'mmc' latency model with scalar parameters")
    rates = np.asarray(rates_rps, dtype=np.float64)
    wanted = np.clip(np.asarray(desired, dtype=np.int64), params.spec.min_replicas, params.spec.max_replicas)
    if rates.ndim != 1 or wanted.shape != rates.shape:
        raise ValueError("simulate_reference: rates_rps and desired must be (steps,) arrays of one length")
    if not (np.all(np.isfinite(rates)) and np.all(rates >= 0)):
        raise ValueError("simulate_reference: rates_rps must be finite and >= 0")
    rng = np.random.default_rng(seed)
    dt = params.step_s
    mu = float(params.mu_rps)
    base_s, slo_s = float(params.base_latency_s), float(params.spec.slo_latency_s)
    timeout_s, bound = float(params.request_timeout_s), float(params.queue_bound_requests)
    lo_s, hi_s = float(params.startup_delay_min_s), float(params.startup_delay_max_s)
    steps = rates.shape[0]

    env = simpy.Environment()
    queue: simpy.Store = simpy.Store(env)
    pods: list[_Pod] = []
    latencies: list[float] = []
    counts = {"dropped": 0, "slow": 0}
    step_failures = np.zeros(steps, dtype=np.int64)
    pod_seconds = [0.0]

    def fail(arrival_s: float) -> None:
        step_failures[min(int(arrival_s // dt), steps - 1)] += 1

    def serve(pod: _Pod) -> Any:
        try:
            if pod.ready_at > env.now:
                yield env.timeout(pod.ready_at - env.now)
        except simpy.Interrupt:
            return  # removed before it was ready
        while not pod.removed:
            get = queue.get()
            try:
                arrival_s = yield get
            except simpy.Interrupt:
                if get.triggered:  # the request was handed over in this same instant: give it back
                    queue.items.insert(0, get.value)
                else:
                    get.cancel()
                return
            if env.now - arrival_s > timeout_s:  # it left the queue at its timeout, unserved
                counts["dropped"] += 1
                fail(arrival_s)
                continue
            pod.busy = True
            yield env.timeout(rng.exponential(1.0 / mu))
            pod.busy = False
            latency_s = base_s + env.now - arrival_s
            latencies.append(latency_s)
            if latency_s > slo_s:
                counts["slow"] += 1
                fail(arrival_s)

    def add_pod(ready_at: float) -> None:
        pod = _Pod(ready_at)
        pod.process = env.process(serve(pod))
        pods.append(pod)

    def remove_pods(k: int) -> None:
        # the ReplicaSet's choice: not ready (latest-due) first, then the latest to become ready
        order = sorted(range(len(pods)), key=lambda i: (pods[i].ready_at, i), reverse=True)
        for i in sorted(order[:k], reverse=True):
            pod = pods.pop(i)
            pod.removed = True
            if not pod.busy:
                pod.process.interrupt()

    def scaler() -> Any:
        for t in range(steps):
            change = int(wanted[t]) - len(pods)
            if change > 0:
                for delay_s in rng.uniform(lo_s, hi_s, size=change):
                    add_pod(env.now + delay_s)
            elif change < 0:
                remove_pods(-change)
            pod_seconds[0] += len(pods) * dt
            yield env.timeout(dt)

    offered_per_step = rng.poisson(rates * dt)

    def arrivals() -> Any:
        for t in range(steps):
            times = np.sort(rng.uniform(t * dt, (t + 1) * dt, size=int(offered_per_step[t])))
            for a in times:
                if a > env.now:
                    yield env.timeout(a - env.now)
                if len(queue.items) >= bound:
                    counts["dropped"] += 1
                    fail(a)
                else:
                    queue.put(a)

    for _ in range(int(np.clip(initial_replicas, params.spec.min_replicas, params.spec.max_replicas))):
        add_pod(-np.inf)
    env.process(scaler())
    env.process(arrivals())
    env.run(until=steps * dt)
    for a in queue.items:  # still queued at the end: dropped only if already past the timeout
        if steps * dt - a > timeout_s:
            counts["dropped"] += 1
            fail(a)
    spec = params.spec
    cost = (
        pod_seconds[0]
        / 3600.0
        * (
            spec.cpu_request_cores * params.price_cpu_core_hour
            + spec.memory_request_gib * params.price_memory_gib_hour
        )
    )
    return ReferenceResult(
        offered=int(offered_per_step.sum()),
        served=len(latencies),
        dropped=counts["dropped"],
        slow=counts["slow"],
        latencies_s=np.asarray(latencies),
        step_offered=offered_per_step.astype(np.int64),
        step_failures=step_failures,
        pod_seconds=pod_seconds[0],
        cost_usd=cost,
    )
