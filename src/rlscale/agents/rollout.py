"""Run any :class:`~rlscale.policies.base.Policy` on a batch of rate windows in the
simulator (one batched ``sim.step`` per period), as the envs' warm start does; used for
validation during training and for HPA bootstrapping data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.slo_budget import slo_violation_rate
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.sim import simulator as sim
from rlscale.sim.params import ServiceParams

#: The envs' warm start (rlscale.envs.vector.WARM_START_UTILIZATION).
WARM_START_UTILIZATION = 0.7


@dataclass(frozen=True)
class RolloutResult:
    """Per-window totals over the whole window (arrays of shape ``(n_windows,)``)."""

    slo_failures: np.ndarray  # violating + dropped requests
    offered: np.ndarray  # requests offered (core.slo_budget.slo_violation_rate's denominator)
    cost_usd: np.ndarray
    pod_seconds: np.ndarray
    reward: np.ndarray  # sum of the step rewards, if a reward function was given

    @property
    def violation_rate(self) -> float:
        """Pooled request-level SLO violation rate over all windows."""
        return float(slo_violation_rate(self.slo_failures, 0.0, self.offered))

    @property
    def mean_cost_usd(self) -> float:
        return float(self.cost_usd.mean())


def run_policy(
    params: ServiceParams,
    make_policy: Callable[[ServiceSpec, int], Policy],
    rate_windows: Sequence[np.ndarray],
    *,
    seed: int = 0,
    reward_fn: Callable[..., np.ndarray] | None = None,
    record: Callable[[ScalingSignals, np.ndarray], None] | None = None,
) -> RolloutResult:
    """Run ``make_policy(spec, n)`` on ``n`` equal-length windows at once.

    ``record(signals, desired)`` is called each period (for behaviour-cloning data)."""
    rates = np.stack([np.asarray(w, dtype=np.float64) for w in rate_windows])
    n, steps = rates.shape
    spec = params.spec
    policy = make_policy(spec, n)
    rng = np.random.default_rng(seed)
    replicas0 = np.ceil(rates[:, 0] / (spec.pod_capacity_rps * WARM_START_UTILIZATION) - 1e-9)
    state = sim.init_state(params, n, replicas0.astype(np.int64), None, rates[:, 0])
    fail = np.zeros(n)
    done = np.zeros(n)
    cost = np.zeros(n)
    pods = np.zeros(n)
    total_reward = np.zeros(n)
    for t in range(steps):
        sig = sim.signals(params, state)
        prev = state.desired.copy()
        desired = np.asarray(policy.act(sig), dtype=np.int64)
        if record is not None:
            record(sig, desired)
        _, m = sim.step(params, state, rates[:, t], desired, rng)
        fail += m.violating + m.dropped
        done += m.offered
        cost += m.cost_usd
        pods += m.pod_seconds
        if reward_fn is not None:
            total_reward += reward_fn(m, spec, prev)
    return RolloutResult(fail, done, cost, pods, total_reward)
