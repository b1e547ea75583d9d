"""One Gymnasium env family over the :class:`~rlscale.sim.loop.Simulator` seam (issue 12).

A single-service env is an episode of the one loop driven by an agent: draw the episode's
load (a simulator bound to it), warm-start, then per ``step`` decode the raw action, step the
simulator and score the step. The variants (``envs.vertical``, ``envs.pools``) only say how an
episode's load is drawn, what the agent observes, how its action decodes and what a step is
worth; the batched training env (``envs.vector``) keeps its own auto-resetting vector form.
"""

from __future__ import annotations

from typing import Any, Generic

import gymnasium as gym
import numpy as np

from rlscale.envs.episodes import episode_rng
from rlscale.sim.loop import ActionT, MetricsT, SignalsT, Simulator, StateT


class SimulatorEnv(gym.Env, Generic[StateT, ActionT, SignalsT, MetricsT]):
    """Subclasses set ``self._rng`` and implement the four episode hooks below."""

    _rng: np.random.Generator

    def _new_episode(self) -> Simulator[StateT, ActionT, SignalsT, MetricsT]:
        """The simulator bound to a freshly drawn episode load (one env)."""
        raise NotImplementedError

    def _observe(self, signals: SignalsT, state: StateT) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, action: Any, state: StateT) -> ActionT:
        raise NotImplementedError

    def _score(self, metrics: MetricsT) -> tuple[float, dict[str, float]]:
        """The step's reward and info (also updates what the next observation reads)."""
        raise NotImplementedError

    def _start(self) -> np.ndarray:
        self._sim = self._new_episode()
        self._state = self._sim.init_state(self._rng)
        self._t = 0
        return self._observe(self._sim.signals(self._state), self._state)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._rng = episode_rng(self._rng, seed)
        return self._start(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        decoded = self._decode(action, self._state)
        self._state, metrics = self._sim.step(self._state, self._t, decoded, self._rng)
        self._t += 1
        reward, info = self._score(metrics)
        obs = self._observe(self._sim.signals(self._state), self._state)
        return obs, reward, False, self._t >= self._sim.steps, info
