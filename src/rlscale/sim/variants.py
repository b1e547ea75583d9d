"""The horizontal, vertical and pools simulators behind the one :class:`~rlscale.sim.loop.Simulator`
protocol, each bound to a load so :func:`rlscale.sim.loop.run` can drive any of them.

Each adapter only names its variant's warm start, signals, step call and counts; the physics
stays in :mod:`rlscale.sim.simulator`, :mod:`rlscale.sim.vertical` and :mod:`rlscale.sim.pools`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.core.vertical import VerticalAction, VerticalSignals
from rlscale.sim import pools as ps
from rlscale.sim import simulator as sim
from rlscale.sim import vertical as vs
from rlscale.sim.loop import StepCounts
from rlscale.sim.params import ServiceParams

#: Utilisation the warm start sizes the first step's replicas for (the envs' episodes,
#: ``rlscale simulate`` and training's validation start alike); the HPA's common 70 % target.
WARM_START_UTILIZATION = 0.7


def warm_start_replicas(
    rate_rps: np.ndarray, spec: ServiceSpec, utilization: float = WARM_START_UTILIZATION
) -> np.ndarray:
    """Replicas that serve ``rate_rps`` at ``utilization`` of each pod's capacity (float, unclamped)."""
    return np.ceil(np.asarray(rate_rps, dtype=np.float64) / (spec.pod_capacity_rps * utilization) - 1e-9)


def steps_by_envs(rates_rps: np.ndarray) -> np.ndarray:
    """Rates as ``(T, num_envs)`` float64 (a ``(T,)`` series is one env)."""
    rates = np.asarray(rates_rps, dtype=np.float64)
    if rates.ndim == 1:
        rates = rates[:, None]
    if rates.ndim != 2 or rates.shape[0] == 0:
        raise ValueError(f"rates_rps must have shape (T,) or (T, num_envs) with T > 0, got {rates.shape}")
    return rates


class HorizontalSim:
    """The replica-count simulator on ``rates_rps`` (``(T, E)`` req/s), optionally tiled
    ``blocks`` times (a policy-major batch: every block replays the same load, never
    materialised ``blocks`` times). ``arrival_counts`` (``(T, E)``) and ``startup_keys``
    (``(E,)``) replay common random numbers (see ``sim.step``)."""

    def __init__(
        self,
        params: ServiceParams,
        rates_rps: np.ndarray,
        initial_replicas: np.ndarray,
        *,
        initial_rate_rps: np.ndarray | None = None,
        arrival_counts: np.ndarray | None = None,
        startup_keys: np.ndarray | None = None,
        blocks: int = 1,
    ) -> None:
        self.params = params
        self.rates_rps = steps_by_envs(rates_rps)
        steps, per_block = self.rates_rps.shape
        if arrival_counts is not None and np.shape(arrival_counts) != (steps, per_block):
            raise ValueError(
                f"arrival_counts has shape {np.shape(arrival_counts)}, rates {(steps, per_block)}"
            )
        self.arrival_counts = arrival_counts
        self.blocks = blocks
        self.initial_replicas = np.tile(np.broadcast_to(initial_replicas, (per_block,)), blocks)
        rate0 = self.rates_rps[0] if initial_rate_rps is None else initial_rate_rps
        self.initial_rate_rps = np.tile(np.broadcast_to(rate0, (per_block,)), blocks)
        self.startup_keys = (
            None if startup_keys is None else np.tile(np.asarray(startup_keys, dtype=np.uint64), blocks)
        )
        self._rate = np.empty((blocks, per_block))
        self._count = np.empty((blocks, per_block))

    @property
    def num_envs(self) -> int:
        return self.blocks * self.rates_rps.shape[1]

    @property
    def steps(self) -> int:
        return self.rates_rps.shape[0]

    def init_state(self, rng: np.random.Generator) -> sim.SimState:
        return sim.init_state(
            self.params, self.num_envs, self.initial_replicas, rng, initial_rate_rps=self.initial_rate_rps
        )

    def signals(self, state: sim.SimState) -> ScalingSignals:
        return sim.signals(self.params, state)

    def step(
        self, state: sim.SimState, t: int, action: np.ndarray, rng: np.random.Generator
    ) -> tuple[sim.SimState, sim.StepMetrics]:
        self._rate[:] = self.rates_rps[t]
        count = None
        if self.arrival_counts is not None:
            self._count[:] = self.arrival_counts[t]
            count = self._count.reshape(-1)
        return sim.step(
            self.params,
            state,
            self._rate.reshape(-1),
            action,
            rng,
            arrival_count=count,
            startup_keys=self.startup_keys,
        )

    def metrics(self, m: sim.StepMetrics) -> StepCounts:
        return StepCounts(m.offered, m.served, m.dropped, m.violating, m.cost_usd, m.pod_seconds)


class VerticalSim:
    """The replicas × CPU × heap simulator on ``loads_rps`` (``(n, T)`` req/s, one row per
    env), every env starting at ``initial`` = (replicas, CPU cores, heap MB)."""

    def __init__(
        self, params: vs.VerticalParams, loads_rps: np.ndarray, initial: tuple[int, float, float]
    ) -> None:
        self.params = params
        self.loads_rps = np.atleast_2d(np.asarray(loads_rps, dtype=np.float64))
        self.initial = initial

    @property
    def num_envs(self) -> int:
        return self.loads_rps.shape[0]

    @property
    def steps(self) -> int:
        return self.loads_rps.shape[1]

    def init_state(self, rng: np.random.Generator) -> vs.VerticalState:
        del rng  # the vertical warm start is deterministic
        return vs.init_state(self.params, self.num_envs, *self.initial)

    def signals(self, state: vs.VerticalState) -> VerticalSignals:
        return vs.vertical_signals(self.params, state)

    def step(
        self, state: vs.VerticalState, t: int, action: VerticalAction, rng: np.random.Generator
    ) -> tuple[vs.VerticalState, vs.VerticalMetrics]:
        a = action
        return vs.step(self.params, state, self.loads_rps[:, t], a.replicas, a.cpu_cores, a.heap_mb, rng)

    def metrics(self, m: vs.VerticalMetrics) -> StepCounts:
        return StepCounts(m.offered, m.served, m.dropped, m.violating, m.cost_usd, m.pod_seconds)


@dataclass(frozen=True)
class PoolsSignals:
    """What a pools scaler can see before step ``t``: each pool's scaling signals and the state."""

    t: int
    per_pool: list[ScalingSignals]
    state: ps.PoolsState


#: A pools decision: desired replicas ``(n, P)`` and a placement index ``(n,)``.
PoolsAction = tuple[np.ndarray, np.ndarray]


class PoolsSim:
    """The GPU/CPU pools simulator on ``load_rps`` (``(T,)`` req/s, one env), starting from
    ``initial_replicas`` per pool."""

    def __init__(
        self, params: ps.PoolsParams, load_rps: np.ndarray, initial_replicas: tuple[int, ...]
    ) -> None:
        self.params = params
        self.load_rps = np.asarray(load_rps, dtype=np.float64).reshape(-1)
        self.initial_replicas = initial_replicas

    @property
    def num_envs(self) -> int:
        return 1

    @property
    def steps(self) -> int:
        return self.load_rps.size

    def init_state(self, rng: np.random.Generator) -> ps.PoolsState:
        del rng  # the pools warm start is deterministic
        return ps.init_state(self.params, 1, self.initial_replicas, initial_rate_rps=float(self.load_rps[0]))

    def signals(self, state: ps.PoolsState) -> PoolsSignals:
        per_pool = [sim.signals(p, s) for p, s in zip(self.params.pools, state.states, strict=True)]
        return PoolsSignals(state.states[0].step_index, per_pool, state)

    def step(
        self, state: ps.PoolsState, t: int, action: PoolsAction, rng: np.random.Generator
    ) -> tuple[ps.PoolsState, ps.PoolsMetrics]:
        desired, placement = action
        return ps.step(self.params, state, self.load_rps[t : t + 1], desired, placement, rng)

    def metrics(self, m: ps.PoolsMetrics) -> StepCounts:
        pod_seconds = sum(p.pod_seconds for p in m.per_pool)
        return StepCounts(m.offered, m.served, m.dropped, m.violating, m.cost_usd, np.asarray(pod_seconds))
