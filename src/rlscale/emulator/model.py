"""One emulated service's request dynamics per step, from the simulator's service model.

The emulator needs more than a scaler's summary of a step: it exports a latency *histogram*
(the share of requests under each bucket bound) and per-pod CPU counters, so it keeps its own
per-service queue and evaluates the simulator's latency law (:mod:`rlscale.sim.queueing`:
``base + U(0, width) + T`` with M/M/c waiting, the same law ``rlscale.sim`` steps with) at the
bucket bounds. Pods (which are ready, which are pending) live in :mod:`rlscale.emulator.cluster`
as real Pod objects; this module only turns ``(arrival rate, ready pods)`` into what they served.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import erlang_c, latency_survival_params

#: Prometheus client's default histogram buckets (prometheus_client ``Histogram.DEFAULT_BUCKETS``)
#: extended down to 1 ms and up to 30 s (the sim's default request timeout) so p95 is resolvable
#: for both the fast test preset and a saturated service.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    30.0,
)


@dataclass(frozen=True)
class StepOutcome:
    """What one service did over one step; rates are per (simulated) second."""

    offered_rps: float
    served_rps: float
    dropped_rps: float
    backlog_requests: float
    cpu_cores_per_ready_pod: float
    #: Fraction of served requests with latency <= each bound of LATENCY_BUCKETS_S.
    bucket_fractions: tuple[float, ...]
    #: Mean latency of served requests (for the histogram's ``_sum``).
    mean_latency_s: float
    latency_p95_s: float


class ServiceModel:
    """The queue of one service: arrivals (Poisson or fluid), ready pods serving at ``mu``,
    a backlog bounded by the queue bound and the request timeout (excess dropped)."""

    def __init__(self, params: ServiceParams, rng: np.random.Generator) -> None:
        if params.num_envs is not None:
            raise ValueError("ServiceModel needs scalar ServiceParams (one service), not per-env arrays")
        self.params = params
        self.rng = rng
        self.backlog_requests = 0.0
        self.mu_rps = float(params.mu_rps)

    def step(self, offered_rps: float, ready_pods: int, dt_s: float) -> StepOutcome:
        p = self.params
        mu = self.mu_rps
        lam = max(float(offered_rps), 0.0)
        arrivals = float(self.rng.poisson(lam * dt_s)) if p.poisson_arrivals else lam * dt_s
        capacity = ready_pods * mu * dt_s
        total = self.backlog_requests + arrivals
        served = min(total, capacity)
        backlog = total - served
        # Requests that would wait longer than the timeout, or overflow the queue, are dropped.
        max_queue = min(float(p.queue_bound_requests), float(p.request_timeout_s) * ready_pods * mu)
        dropped = max(0.0, backlog - max_queue)
        backlog -= dropped
        self.backlog_requests = backlog

        idle = float(p.cpu_idle_cores)
        per_pod_rps = served / dt_s / ready_pods if ready_pods > 0 else 0.0
        cpu = min(idle + per_pod_rps * float(p.cpu_per_request_core_s), float(p.cpu_limit_cores))

        base = float(p.base_latency_s)
        if ready_pods > 0:
            stable = lam < ready_pods * mu and backlog <= 1e-9
            if stable:
                wait_prob = float(erlang_c(ready_pods, lam / mu))
                wait_rate = ready_pods * mu - lam
                width = 0.0
            else:
                # A backlog replaces M/M/c waiting: requests wait a uniform share of its drain time.
                wait_prob, wait_rate = 0.0, mu
                width = (self.backlog_requests + 0.5 * arrivals) / (ready_pods * mu)
            bounds = np.asarray(LATENCY_BUCKETS_S)
            surv = latency_survival_params(
                bounds,
                np.asarray(base),
                np.asarray(width),
                np.asarray(wait_prob),
                np.asarray(wait_rate),
                np.asarray(mu),
            )
            fractions = tuple(float(f) for f in np.clip(1.0 - surv, 0.0, 1.0))
            mean = base + 0.5 * width + 1.0 / mu + (wait_prob / wait_rate if wait_prob > 0 else 0.0)
            grid = np.linspace(
                0.0, base + width + 20.0 / mu + (20.0 / wait_rate if wait_prob > 0 else 0.0), 4096
            )
            s = latency_survival_params(
                grid,
                np.asarray(base),
                np.asarray(width),
                np.asarray(wait_prob),
                np.asarray(wait_rate),
                np.asarray(mu),
            )
            p95 = float(grid[min(int(np.searchsorted(-s, -0.05)), grid.size - 1)])
        else:
            fractions = tuple(0.0 for _ in LATENCY_BUCKETS_S)
            mean = float(p.request_timeout_s)
            p95 = float(p.request_timeout_s)
        return StepOutcome(
            offered_rps=arrivals / dt_s,
            served_rps=served / dt_s,
            dropped_rps=dropped / dt_s,
            backlog_requests=backlog,
            cpu_cores_per_ready_pod=cpu,
            bucket_fractions=fractions,
            mean_latency_s=mean,
            latency_p95_s=p95,
        )
