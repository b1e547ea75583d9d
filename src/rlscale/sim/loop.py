"""The one rollout loop (issue 12): warm start, then per step signals → act → step, with an
optional recorder, over any simulator that implements :class:`Simulator`.

The horizontal, vertical and pools simulators (:mod:`rlscale.sim.variants`) differ in their
state, their action (a replica count; replicas × CPU × heap; per-pool counts and a
placement) and what a scaler can see, but each step ends in the same request counts. So one
loop serves ``rlscale simulate``, training's validation and demonstrations, the evaluation
batch, the pools evaluation and the vertical runner, and every run total is summed here from
:meth:`Simulator.metrics` in one vocabulary (:class:`RunTotals`), with the one SLO violation
rate of :mod:`rlscale.core.slo_budget`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from rlscale.core.slo_budget import slo_violation_rate

StateT = TypeVar("StateT")
ActionT = TypeVar("ActionT")
SignalsT = TypeVar("SignalsT")
MetricsT = TypeVar("MetricsT")


@dataclass(frozen=True)
class StepCounts:
    """What every simulator's step yields per env (``(num_envs,)`` arrays): requests offered,
    served, dropped and served slower than the SLO in the step, its cost and pod-seconds."""

    offered: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    violating: np.ndarray
    cost_usd: np.ndarray
    pod_seconds: np.ndarray


class Simulator(Protocol[StateT, ActionT, SignalsT, MetricsT]):
    """A simulator bound to its service and its load (``steps`` steps of ``num_envs`` envs).

    ``init_state`` is the run's warm start; ``signals`` what a scaler sees of a state;
    ``step`` advances step ``t`` (the simulator knows step ``t``'s load) under ``action``;
    ``metrics`` reads a step's outcome as the shared request counts."""

    @property
    def num_envs(self) -> int: ...

    @property
    def steps(self) -> int: ...

    def init_state(self, rng: np.random.Generator) -> StateT: ...

    def signals(self, state: StateT) -> SignalsT: ...

    def step(
        self, state: StateT, t: int, action: ActionT, rng: np.random.Generator
    ) -> tuple[StateT, MetricsT]: ...

    def metrics(self, m: MetricsT) -> StepCounts: ...


@dataclass
class RunTotals:
    """Per-env totals over a run (``(num_envs,)`` arrays), summed from :class:`StepCounts`."""

    offered: np.ndarray
    served: np.ndarray
    slo_failures: np.ndarray  # violating + dropped requests
    cost_usd: np.ndarray
    pod_seconds: np.ndarray

    @classmethod
    def zeros(cls, num_envs: int) -> RunTotals:
        return cls(*(np.zeros(num_envs) for _ in range(5)))

    def add(self, c: StepCounts) -> None:
        self.offered += c.offered
        self.served += c.served
        self.slo_failures += c.violating + c.dropped
        self.cost_usd += c.cost_usd
        self.pod_seconds += c.pod_seconds

    @property
    def violation_rate(self) -> float:
        """Pooled request-level SLO violation rate over every env (core.slo_budget)."""
        return float(slo_violation_rate(self.slo_failures, 0.0, self.offered))


#: ``record(t, signals, action, metrics, state)``, called after step ``t`` with the state it left.
Recorder = Callable[[int, SignalsT, ActionT, MetricsT, StateT], None]


@dataclass(frozen=True)
class Run(Generic[StateT]):
    """A finished run: the final state and the per-env totals."""

    state: StateT
    totals: RunTotals


def run(
    simulator: Simulator[StateT, ActionT, SignalsT, MetricsT],
    act: Callable[[SignalsT], ActionT],
    rng: np.random.Generator,
    record: Recorder[SignalsT, ActionT, MetricsT, StateT] | None = None,
) -> Run[StateT]:
    """Warm-start ``simulator``, then each step: ``act`` on its signals, step, total, record."""
    state = simulator.init_state(rng)
    totals = RunTotals.zeros(simulator.num_envs)
    for t in range(simulator.steps):
        signals = simulator.signals(state)
        action = act(signals)
        state, metrics = simulator.step(state, t, action, rng)
        totals.add(simulator.metrics(metrics))
        if record is not None:
            record(t, signals, action, metrics, state)
    return Run(state, totals)
