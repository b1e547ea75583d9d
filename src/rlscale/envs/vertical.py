"""Gymnasium env for replicas × CPU limit × heap (seed 001) over :mod:`rlscale.sim.vertical`,
and a batched runner that scores vertical policies (HPA, VPA, HPA+VPA, learned) alike.

Action modes:

- ``seed7``: ``Discrete(7)``, the seed's actions with the gsa codes: 0 noop, 1 +replica,
  2 −replica, 3 +100 m CPU, 4 −100 m CPU, 5 +100 MB heap, 6 −100 MB heap;
- ``factored``: ``MultiDiscrete([3, 3, 3])``: replica delta × CPU delta × heap delta, each
  in {−1, 0, +1} steps, so one decision may change all three knobs.

A move past a bound is clipped (the seed returned −1 or kept the state; clipping keeps the
reward about the service, not about the action encoding). Observation: the core
:class:`~rlscale.core.ObservationBuilder` features followed by CPU limit and heap (as
fractions of their ranges), the rolling flag and the fraction of pods killed by OOM this step.
Reward ``vertical_slo_cost``: ``−(10 · SLO-failed fraction + cost / cost at the largest
configuration)``, the default reward's weights (envs/rewards.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlscale.core.observation import ObservationBuilder, observation_bounds
from rlscale.core.vertical import VerticalAction, VerticalSignals
from rlscale.envs.episodes import sample_episode
from rlscale.envs.family import SimulatorEnv
from rlscale.envs.rewards import SLO_WEIGHT
from rlscale.sim import vertical as vs
from rlscale.sim.loop import run
from rlscale.sim.variants import VerticalSim

ACTION_MODES: tuple[str, ...] = ("seed7", "factored")
#: Seed actions (gsa README codes) as (replica, cpu, heap) step deltas.
SEED7_DELTAS = np.array(
    [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.int64
)
EXTRA_FEATURES: tuple[str, ...] = ("cpu_position", "heap_position", "rolling", "oom_fraction")
DEFAULT_EPISODE_STEPS = 120


def decode_vertical_action(
    mode: str,
    action: np.ndarray,
    params: vs.VerticalParams,
    replicas: np.ndarray,
    cpu: np.ndarray,
    heap: np.ndarray,
) -> VerticalAction:
    """Raw actions (``(n,)`` for seed7, ``(n, 3)`` for factored) → absolute clipped targets."""
    n = replicas.shape[0]
    a = np.asarray(action).astype(np.int64)
    if mode == "seed7":
        a = a.reshape(-1)
        if a.shape != (n,) or np.any((a < 0) | (a > 6)):
            raise ValueError(f"seed7 actions must be {n} ints in [0, 6], got {action!r}")
        d = SEED7_DELTAS[a]
    elif mode == "factored":
        a = a.reshape(n, 3)
        if np.any((a < 0) | (a > 2)):
            raise ValueError(f"factored actions must be ints in [0, 2], got {action!r}")
        d = a - 1
    else:
        raise ValueError(f"unknown vertical action mode {mode!r}; known: {list(ACTION_MODES)}")
    return VerticalAction(
        params.clip_replicas(replicas + d[:, 0]),
        params.clip_cpu(cpu + d[:, 1] * params.cpu_step_cores),
        params.clip_heap(heap + d[:, 2] * params.heap_step_mb),
    )


def max_cost_rate_usd_s(params: vs.VerticalParams) -> float:
    """$ per second of the largest configuration (the reward's cost unit)."""
    mem = float(params.model.memory_gib(params.heap_max_mb))
    per_pod = params.cpu_max_cores * params.price_cpu_core_hour + mem * params.price_memory_gib_hour
    return params.spec.max_replicas * per_pod / 3600.0


def vertical_reward(metrics: vs.VerticalMetrics, params: vs.VerticalParams) -> np.ndarray:
    done = metrics.served + metrics.dropped
    frac = np.divide(metrics.violating + metrics.dropped, done, out=np.zeros_like(done), where=done > 0)
    cost = metrics.cost_usd / (max_cost_rate_usd_s(params) * params.spec.step_s)
    return -(SLO_WEIGHT * frac + cost)


def synthetic_vertical_windows(
    params: vs.VerticalParams, seed: int | None, count: int = 8, length: int = 4 * DEFAULT_EPISODE_STEPS
) -> list[np.ndarray]:
    """Seeded sinusoid windows between ~5 % and ~60 % of the largest configuration's capacity."""
    rng = np.random.default_rng(seed)
    peak = params.spec.max_replicas * float(
        params.model.pod_capacity_rps(params.cpu_max_cores, params.heap_max_mb)
    )
    t = np.arange(length, dtype=np.float64)
    out = []
    for _ in range(count):
        level, amp = rng.uniform(0.15, 0.35), rng.uniform(0.1, 0.25)
        period, phase = rng.uniform(60.0, 240.0), rng.uniform(0, 2 * np.pi)
        out.append(peak * np.clip(level + amp * np.sin(2 * np.pi * t / period + phase), 0.05, 0.6))
    return out


class VerticalEnv(SimulatorEnv[vs.VerticalState, VerticalAction, VerticalSignals, vs.VerticalMetrics]):
    """One vertically scaled service (see module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        params: vs.VerticalParams | None = None,
        load_windows: Sequence[np.ndarray] | None = None,
        action_mode: str = "factored",
        episode_steps: int = DEFAULT_EPISODE_STEPS,
        initial: tuple[int, float, float] = (2, 0.5, 500.0),
        seed: int | None = None,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(f"unknown vertical action mode {action_mode!r}; known: {list(ACTION_MODES)}")
        self.params = params if params is not None else vs.teastore_vertical()
        self.windows = (
            list(load_windows) if load_windows is not None else synthetic_vertical_windows(self.params, seed)
        )
        if any(len(w) < episode_steps for w in self.windows):
            raise ValueError(f"every load window needs >= episode_steps ({episode_steps}) values")
        self.action_mode = action_mode
        self.episode_steps = episode_steps
        self.initial = initial
        self.action_space = (
            gym.spaces.Discrete(7) if action_mode == "seed7" else gym.spaces.MultiDiscrete([3, 3, 3])
        )
        low, high = observation_bounds()
        self.observation_space = gym.spaces.Box(
            np.concatenate([low, np.zeros(len(EXTRA_FEATURES), np.float32)]),
            np.concatenate([high, np.ones(len(EXTRA_FEATURES), np.float32)]),
            dtype=np.float32,
        )
        self._builder = ObservationBuilder(self.params.spec, 1)
        self._rng = np.random.default_rng(seed)
        # a state before the first reset (which draws the first episode)
        self._sim = VerticalSim(self.params, self.windows[0][None, :episode_steps], initial)
        self._state = self._sim.init_state(self._rng)
        self._t = 0
        self._last_oom = 0.0

    def _new_episode(self) -> VerticalSim:
        load = sample_episode(self._rng, self.windows, self.episode_steps)
        self._last_oom = 0.0
        self._builder.reset(None)
        return VerticalSim(self.params, load[None, :], self.initial)

    def _observe(self, signals: VerticalSignals, state: vs.VerticalState) -> np.ndarray:
        p = self.params
        extra = np.array(
            [
                (state.cpu_cores[0] - p.cpu_min_cores) / max(p.cpu_max_cores - p.cpu_min_cores, 1e-9),
                (state.heap_mb[0] - p.heap_min_mb) / max(p.heap_max_mb - p.heap_min_mb, 1e-9),
                float(state.ready_old[0] > 0),
                self._last_oom,
            ],
            dtype=np.float32,
        )
        base = self._builder.build(signals.signals)[0]
        low, high = self.observation_space.low, self.observation_space.high
        return np.clip(np.concatenate([base, extra]), low, high).astype(np.float32)

    def _decode(self, action: Any, state: vs.VerticalState) -> VerticalAction:
        raw = np.asarray(action)[None, ...]
        return decode_vertical_action(
            self.action_mode, raw, self.params, state.desired, state.cpu_cores, state.heap_mb
        )

    def _score(self, m: vs.VerticalMetrics) -> tuple[float, dict[str, float]]:
        pods = max(int(m.ready[0] + m.pending[0]), 1)
        self._last_oom = min(float(m.oom_kills[0]) / pods, 1.0)
        info = {
            k: float(np.asarray(getattr(m, k))[0])
            for k in (
                "served",
                "dropped",
                "violating",
                "cost_usd",
                "capacity_rps",
                "cpu_cores",
                "heap_mb",
                "ready",
            )
        }
        return float(vertical_reward(m, self.params)[0]), info


# ---------------------------------------------------------------------------------- runner
@dataclass(frozen=True)
class VerticalResult:
    """Totals of one policy over a set of load windows."""

    policy: str
    slo_violation_rate: float
    cost_usd: float
    mean_replicas: float
    mean_cpu_cores: float
    mean_heap_mb: float
    rollouts: int
    oom_kills: int
    steps: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


VerticalActFn = Callable[[VerticalSignals], VerticalAction]


@dataclass
class _VerticalTally:
    """The vertical-only figures a run totals besides the shared counts (a loop recorder)."""

    replicas: float = 0.0  # sums over steps of the env-mean
    cpu_cores: float = 0.0
    heap_mb: float = 0.0
    rollouts: int = 0
    oom_kills: int = 0
    rolling: np.ndarray | None = None

    def __call__(
        self, t: int, sig: VerticalSignals, a: VerticalAction, m: vs.VerticalMetrics, state: vs.VerticalState
    ) -> None:
        self.replicas += float(np.mean(m.ready + m.pending))
        self.cpu_cores += float(np.mean(m.cpu_cores))
        self.heap_mb += float(np.mean(m.heap_mb))
        started = m.rolling if self.rolling is None else m.rolling & ~self.rolling
        self.rollouts += int(np.sum(started))
        self.oom_kills += int(np.sum(m.oom_kills))
        self.rolling = m.rolling


def run_vertical(
    name: str,
    act: VerticalActFn,
    params: vs.VerticalParams,
    loads: np.ndarray,
    seed: int = 0,
    initial: tuple[int, float, float] = (2, 0.5, 500.0),
) -> VerticalResult:
    """Run ``act`` on every row of ``loads`` (``(n, T)`` req/s) at once and total the result."""
    simulator = VerticalSim(params, loads, initial)
    tally = _VerticalTally()
    totals = run(simulator, act, np.random.default_rng(seed), tally).totals
    horizon = simulator.steps
    return VerticalResult(
        name,
        totals.violation_rate,
        float(totals.cost_usd.sum()),
        tally.replicas / horizon,
        tally.cpu_cores / horizon,
        tally.heap_mb / horizon,
        tally.rollouts,
        tally.oom_kills,
        horizon * simulator.num_envs,
    )
