"""Gymnasium env for GPU/CPU pools (seed 003) over :mod:`rlscale.sim.pools`.

Action ``MultiDiscrete([5, 5, 3])``: GPU-pool delta in {−2..+2}, CPU-pool delta in {−2..+2},
placement {prefer GPU, proportional, prefer CPU} (seed 003's action; its placement had no
effect, here it sets the routing weights). Load: seed 003's ramp, spike, periodic and random
patterns (``rlscale.workload.synthetic``), rotated per episode, peaking at ``peak_rps``.
Observation (12): load / max capacity, load trend, per pool ready and pending fractions of
its max and CPU utilisation, last step's SLO-failed fraction, and the placement one-hot.
Reward: ``−(10 · SLO-failed fraction + cost / cost of both pools at max)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlscale.envs.family import SimulatorEnv
from rlscale.envs.rewards import SLO_WEIGHT
from rlscale.sim import pools as ps
from rlscale.sim.variants import PoolsAction, PoolsSignals, PoolsSim
from rlscale.workload.synthetic import synthetic

PATTERNS: tuple[str, ...] = ("ramp", "spike", "periodic", "random")
DELTAS = np.array([-2, -1, 0, 1, 2], dtype=np.int64)
DEFAULT_PEAK_RPS = 100.0
DEFAULT_EPISODE_STEPS = 80
OBS_SIZE = 12
#: Initial fleet of every episode: 3 GPU + 3 CPU pods.
INITIAL_REPLICAS = (3, 3)


def pattern_load(pattern: str, steps: int, peak_rps: float, seed: int, step_s: float = 15.0) -> np.ndarray:
    """Seed 003's pattern scaled so its nominal peak (100 users) is ``peak_rps``."""
    return synthetic(pattern, steps, step_s, seed) * (peak_rps / 100.0)


def max_cost_usd_step(params: ps.PoolsParams) -> float:
    return (
        sum(params.pod_price_usd_hour(i) * p.spec.max_replicas for i, p in enumerate(params.pools))
        * params.step_s
        / 3600.0
    )


def failed_fraction(m: ps.PoolsMetrics) -> np.ndarray:
    done = m.served + m.dropped
    return np.divide(m.violating + m.dropped, done, out=np.zeros_like(done), where=done > 0)


def pools_observation(
    params: ps.PoolsParams,
    state: ps.PoolsState,
    rate: np.ndarray,
    prev_rate: np.ndarray,
    last_failed: np.ndarray,
) -> np.ndarray:
    maxcap = params.max_capacity_rps()
    cols = [np.clip(rate / maxcap, 0, 2), np.clip(0.5 + (rate - prev_rate) / maxcap, 0, 1)]
    for s, p in zip(state.states, params.pools, strict=True):
        sig = ps.core.signals(p, s)
        cols += [
            s.ready / p.spec.max_replicas,
            s.pending_total / p.spec.max_replicas,
            np.clip(np.nan_to_num(sig.cpu_utilization), 0, 2),
        ]
    cols.append(np.clip(last_failed, 0, 1))
    cols += [(state.placement == k).astype(float) for k in range(3)]
    return np.stack(cols, axis=1).astype(np.float32)


def observe_pools(
    params: ps.PoolsParams, state: ps.PoolsState, load_rps: np.ndarray, t: int, last_failed: np.ndarray
) -> np.ndarray:
    """:func:`pools_observation` before step ``t`` of ``load_rps`` (``(1, OBS_SIZE)``): the
    rates measured the last two steps (the env's and the evaluation's learned policy's view)."""
    t = min(t, load_rps.size - 1)
    rate = np.array([load_rps[max(t - 1, 0)]])
    prev = np.array([load_rps[max(t - 2, 0)]])
    return pools_observation(params, state, rate, prev, last_failed)


class PoolsEnv(SimulatorEnv[ps.PoolsState, PoolsAction, PoolsSignals, ps.PoolsMetrics]):
    """One service on a GPU and a CPU pool (see module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        params: ps.PoolsParams | None = None,
        peak_rps: float = DEFAULT_PEAK_RPS,
        episode_steps: int = DEFAULT_EPISODE_STEPS,
        patterns: tuple[str, ...] = PATTERNS,
        seed: int | None = None,
    ) -> None:
        unknown = set(patterns) - set(PATTERNS)
        if unknown:
            raise ValueError(f"unknown load pattern(s) {sorted(unknown)}; known: {list(PATTERNS)}")
        self.params = params if params is not None else ps.pools_preset()
        self.peak_rps, self.episode_steps, self.patterns = peak_rps, episode_steps, patterns
        self.action_space = gym.spaces.MultiDiscrete([5, 5, 3])
        self.observation_space = gym.spaces.Box(0.0, 2.0, shape=(OBS_SIZE,), dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self._start()

    def _new_episode(self) -> PoolsSim:
        pattern = self.patterns[int(self._rng.integers(len(self.patterns)))]
        load = pattern_load(
            pattern, self.episode_steps, self.peak_rps, int(self._rng.integers(1 << 31)), self.params.step_s
        )
        self._last_failed = np.zeros(1)
        return PoolsSim(self.params, load, INITIAL_REPLICAS)

    def _observe(self, signals: PoolsSignals, state: ps.PoolsState) -> np.ndarray:
        return observe_pools(self.params, state, self._sim.load_rps, signals.t, self._last_failed)[0]

    def _decode(self, action: Any, state: ps.PoolsState) -> PoolsAction:
        a = np.asarray(action, dtype=np.int64).reshape(3)
        cur = np.array([[s.desired[0] for s in state.states]])
        desired = np.clip(cur + DELTAS[a[:2]][None, :], 0, [[p.spec.max_replicas for p in self.params.pools]])
        if desired.sum() == 0:  # keep one pod somewhere
            desired[0, 1] = 1
        return desired, np.array([a[2]])

    def _score(self, m: ps.PoolsMetrics) -> tuple[float, dict[str, float]]:
        self._last_failed = failed_fraction(m)
        reward = -(
            SLO_WEIGHT * float(self._last_failed[0]) + float(m.cost_usd[0]) / max_cost_usd_step(self.params)
        )
        info = {
            "failed": float(m.violating[0] + m.dropped[0]),
            "done": float(m.served[0] + m.dropped[0]),
            "cost_usd": float(m.cost_usd[0]),
            "gpu_share": float(m.weights[0, 0]),
        }
        return reward, info
