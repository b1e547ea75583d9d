"""Run any :class:`~rlscale.policies.base.Policy` on a batch of rate windows in the
simulator (one batched ``sim.step`` per period, :func:`rlscale.sim.loop.run`) from the
envs' warm start; used for validation during training and for HPA bootstrapping data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.sim.loop import Recorder, RunTotals, run
from rlscale.sim.params import ServiceParams
from rlscale.sim.simulator import SimState, StepMetrics
from rlscale.sim.variants import HorizontalSim, warm_start_replicas


@dataclass(frozen=True)
class RolloutResult:
    """A run's per-window totals (``(n_windows,)`` arrays) and step rewards, read as the report reads them."""

    totals: RunTotals
    reward: np.ndarray  # sum of the step rewards, if a reward function was given

    @property
    def violation_rate(self) -> float:
        """Pooled request-level SLO violation rate over all windows."""
        return self.totals.violation_rate

    @property
    def cost_usd(self) -> float:
        """Cost of every window together, as a report row's ``cost_usd`` (one seed) is."""
        return float(self.totals.cost_usd.sum())


def run_policy(
    params: ServiceParams,
    make_policy: Callable[[ServiceSpec, int], Policy],
    rate_windows: Sequence[np.ndarray],
    *,
    seed: int = 0,
    reward_fn: Callable[..., np.ndarray] | None = None,
    record: Recorder[ScalingSignals, np.ndarray, StepMetrics, SimState] | None = None,
) -> RolloutResult:
    """Run ``make_policy(spec, n)`` on ``n`` equal-length windows at once, from the envs' warm
    start.

    ``record`` is the loop's recorder, called each period (behaviour-cloning data, metrics)."""
    rates = np.stack([np.asarray(w, dtype=np.float64) for w in rate_windows])
    n = rates.shape[0]
    spec = params.spec
    policy = make_policy(spec, n)
    simulator = HorizontalSim(params, rates.T, warm_start_replicas(rates[:, 0], spec).astype(np.int64))
    total_reward = np.zeros(n)

    def act(sig: ScalingSignals) -> np.ndarray:
        return np.asarray(policy.act(sig), dtype=np.int64)

    def on_step(t: int, sig: ScalingSignals, desired: np.ndarray, m: StepMetrics, state: SimState) -> None:
        if record is not None:
            record(t, sig, desired, m, state)
        if reward_fn is not None:
            total_reward[:] += reward_fn(m, spec, sig.desired_replicas)

    totals = run(simulator, act, np.random.default_rng(seed), on_step).totals
    return RolloutResult(totals, total_reward)
