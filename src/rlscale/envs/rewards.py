"""Reward functions: named, pure functions of one step's metrics (DESIGN.md §4).

Signature: ``reward(metrics, spec, prev_desired) -> (num_envs,) float64`` where
``prev_desired`` is the desired count before this step's decision.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.sim.simulator import StepMetrics

RewardFn = Callable[[StepMetrics, ServiceSpec, np.ndarray], np.ndarray]

#: Weights of the default reward. One violating or dropped request in 100 costs as much as
#: 10 % of the max-replica bill: SLO first, then cost; churn only breaks ties.
SLO_WEIGHT = 10.0
COST_WEIGHT = 1.0
CHURN_WEIGHT = 0.02


def violation_fraction(metrics: StepMetrics) -> np.ndarray:
    """Fraction of the requests finished this step (served or dropped) that failed the SLO."""
    done = metrics.served + metrics.dropped
    failed = metrics.violating + metrics.dropped
    return np.divide(failed, done, out=np.zeros_like(done), where=done > 0)


def slo_cost(
    metrics: StepMetrics,
    spec: ServiceSpec,
    prev_desired: np.ndarray,
    *,
    slo_weight: float = SLO_WEIGHT,
    cost_weight: float = COST_WEIGHT,
    churn_weight: float = CHURN_WEIGHT,
) -> np.ndarray:
    """Default, scale-free: ``−(w_slo·violating-or-dropped fraction + w_cost·pods/max_replicas
    + w_churn·|Δdesired|/max_replicas)``. Pods include pending ones (they are billed)."""
    max_r = float(max(spec.max_replicas, 1))
    pods = (metrics.ready + metrics.pending).astype(np.float64)
    churn = np.abs(metrics.desired.astype(np.float64) - np.asarray(prev_desired, dtype=np.float64))
    return -(
        slo_weight * violation_fraction(metrics) + cost_weight * pods / max_r + churn_weight * churn / max_r
    )


#: Seed 000's constants (reference/seed-systems.md §1.1): Tmin, the RT cap, the low-load
#: threshold 0.2·80 req/min, and its alignment bonus/penalty.
LIPARI_T_MIN_S = 0.2
LIPARI_RT_CAP_S = 1.0
LIPARI_LOW_LOAD_PER_MIN = 0.2 * 80.0


def lipari2025(metrics: StepMetrics, spec: ServiceSpec, prev_desired: np.ndarray) -> np.ndarray:
    """Seed 000's ``_calculate_reward`` exactly (seed-systems.md §1.1), with RT = this step's
    mean latency capped at 1 s, Tmax = the SLO and N_max = max_replicas::

        r = −(c_perf + c_res) + a_align
        c_perf = (RT − 0.2)/(Tmax − 0.2)            if RT <= Tmax
               = 2.3 + (RT − 0.2)/(Tmax − 0.2)      otherwise
        c_res  = −0.4                               if N == 1 and λ < 16 req/min
               = 2.5·(N−1)/(N_max−1) + 0.1·(1.3^(N−1) − 1)   otherwise
        a_align = −0.4 if the action moved the replicas else +0.2

    One difference: the seed also charged −0.4 for a move blocked at the bounds; only the
    clamped decision is visible here, so a blocked move counts as no move.
    """
    t_max = spec.slo_latency_s
    span = t_max - LIPARI_T_MIN_S
    rt = np.minimum(metrics.latency_mean_s, LIPARI_RT_CAP_S)
    c_perf = np.where(rt <= t_max, (rt - LIPARI_T_MIN_S) / span, 2.3 + (rt - LIPARI_T_MIN_S) / span)
    n = metrics.ready.astype(np.float64)
    lam_per_min = metrics.arrival_rate_rps * 60.0
    n_max = max(spec.max_replicas - 1, 1)
    c_res = np.where(
        (n == 1) & (lam_per_min < LIPARI_LOW_LOAD_PER_MIN),
        -0.4,
        2.5 * (n - 1) / n_max + 0.1 * (1.3 ** (n - 1) - 1),
    )
    moved = metrics.desired != np.asarray(prev_desired)
    a_align = np.where(moved, -0.4, 0.2)
    return -(c_perf + c_res) + a_align


REWARDS: dict[str, RewardFn] = {"slo_cost": slo_cost, "lipari2025": lipari2025}


def get_reward(name: str | RewardFn) -> RewardFn:
    """A reward by name (or a callable passed through); unknown names list the known ones."""
    if callable(name):
        return name
    try:
        return REWARDS[name]
    except KeyError:
        raise ValueError(f"unknown reward {name!r}; known rewards: {sorted(REWARDS)}") from None
