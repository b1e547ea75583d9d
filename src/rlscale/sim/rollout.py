"""Run a load series through the simulator under any scaler with ``act(signals)`` (the
:class:`rlscale.policies.base.Policy` protocol, duck-typed so this layer imports no policy),
and summarise the run. Used by ``rlscale simulate``; the steps are :func:`rlscale.sim.loop.run`'s."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.slo_budget import slo_violation_rate
from rlscale.sim.loop import run
from rlscale.sim.params import ServiceParams
from rlscale.sim.simulator import StepMetrics, latency_mixture_quantile
from rlscale.sim.variants import WARM_START_UTILIZATION, HorizontalSim, steps_by_envs, warm_start_replicas


class _Acts(Protocol):
    def act(self, signals: ScalingSignals) -> np.ndarray: ...


def rollout(
    params: ServiceParams,
    rates_rps: np.ndarray,
    policy: _Acts,
    seed: int | np.random.Generator | None = 0,
    initial_utilization: float = WARM_START_UTILIZATION,
) -> StepMetrics:
    """Step ``policy`` through ``rates_rps`` (shape ``(T,)`` or ``(T, num_envs)``, req/s per
    step) from a warm start sized for ``initial_utilization``; returns the stacked metrics
    ``(T, num_envs)``."""
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    rates = steps_by_envs(rates_rps)
    simulator = HorizontalSim(params, rates, warm_start_replicas(rates[0], params.spec, initial_utilization))
    out: list[StepMetrics] = []
    run(simulator, policy.act, rng, lambda t, sig, action, m, state: out.append(m))
    return StepMetrics.stack(out)


def summarize(metrics: StepMetrics, params: ServiceParams) -> dict[str, Any]:
    """Run-level figures over all steps and envs: requests, SLO-violation rate (slow or
    dropped, request-level), exact p50/p95/p99 of served requests, pod-hours, core-hours,
    cost, scaling actions per hour."""
    spec = params.spec
    offered = float(metrics.offered.sum())
    served = float(metrics.served.sum())
    dropped = float(metrics.dropped.sum())
    p50, p95, p99 = latency_mixture_quantile([0.5, 0.95, 0.99], metrics)
    desired = np.asarray(metrics.desired)
    changes = int(np.count_nonzero(np.diff(desired, axis=0))) if desired.shape[0] > 1 else 0
    hours = desired.shape[0] * spec.step_s / 3600.0 * (desired.shape[1] if desired.ndim == 2 else 1)
    return {
        "steps": int(desired.shape[0]),
        "requests_offered": offered,
        "requests_served": served,
        "requests_dropped": dropped,
        "backlog_end": float(np.asarray(metrics.backlog)[-1].sum()),
        "slo_violation_rate": float(slo_violation_rate(metrics.violating, metrics.dropped, metrics.offered)),
        "latency_p50_s": float(p50),
        "latency_p95_s": float(p95),
        "latency_p99_s": float(p99),
        "mean_ready_replicas": float(np.mean(metrics.ready)),
        "pod_hours": float(metrics.pod_seconds.sum()) / 3600.0,
        "cpu_core_hours": float(metrics.cpu_core_seconds.sum()) / 3600.0,
        "cost_usd": float(metrics.cost_usd.sum()),
        "scaling_actions_per_hour": changes / hours if hours > 0 else 0.0,
    }
