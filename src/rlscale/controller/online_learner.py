"""A small online-learning policy for the policy server: linear Q-values over the shared
observation vector, one weight row per replica delta, refitted from logged experience by
fitted Q iteration (ridge regression per action). NumPy only, so it runs in the live image.

It is deliberately simple: the point is the seed-001 server/client loop (act → log returns →
the served policy improves), not a competitive learner; trained networks come from
``rlscale.agents`` and are served through ``policies.learned``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Replica changes the policy chooses from (a discrete delta action space, as the envs offer).
DEFAULT_DELTAS: tuple[int, ...] = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class Experience:
    """One logged transition: observation, action index, reward, next observation, done."""

    obs: np.ndarray
    action: int
    reward: float
    next_obs: np.ndarray
    done: bool


class LinearQPolicy:
    """``Q(o, a) = w_a · [o, 1]``; acts greedily, ties broken towards the smallest change
    (so an untrained policy holds). ``update`` refits all rows from a batch of experience."""

    name = "online-linear-q"

    def __init__(
        self,
        obs_size: int,
        deltas: tuple[int, ...] = DEFAULT_DELTAS,
        gamma: float = 0.9,
        ridge: float = 1e-2,
        iterations: int = 10,
    ) -> None:
        if obs_size < 1:
            raise ValueError(f"obs_size must be >= 1, got {obs_size}")
        if not deltas or len(set(deltas)) != len(deltas):
            raise ValueError(f"deltas must be distinct and non-empty, got {deltas}")
        if not 0 <= gamma < 1:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge}")
        self.obs_size = obs_size
        self.deltas = tuple(int(d) for d in deltas)
        self.gamma = float(gamma)
        self.ridge = float(ridge)
        self.iterations = int(iterations)
        self.weights = np.zeros((len(self.deltas), obs_size + 1), dtype=np.float64)
        # tie-break: prefer small changes, then scale up over down (availability first)
        self._preference = np.array([-abs(d) + 1e-3 * np.sign(d) for d in self.deltas]) * 1e-9
        self.version = 0

    def _features(self, obs: np.ndarray) -> np.ndarray:
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float64))
        return np.concatenate([obs, np.ones((obs.shape[0], 1))], axis=1)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """``(n, A)`` Q-values for a batch of observations ``(n, D)`` (or one ``(D,)``)."""
        return self._features(obs) @ self.weights.T

    def act_observation(self, obs: np.ndarray) -> int:
        """The greedy action index for one observation."""
        q = self.q_values(obs)[0]
        return int(np.argmax(q + self._preference))

    def desired_replicas(
        self, action: int, current_replicas: int, min_replicas: int, max_replicas: int
    ) -> int:
        return int(np.clip(current_replicas + self.deltas[action], min_replicas, max_replicas))

    def update(self, batch: list[Experience]) -> None:
        """Fitted Q iteration on ``batch``; rows of actions absent from the batch are kept."""
        if not batch:
            return
        obs = self._features(np.stack([e.obs for e in batch]))
        next_obs = self._features(np.stack([e.next_obs for e in batch]))
        actions = np.array([e.action for e in batch], dtype=np.int64)
        rewards = np.array([e.reward for e in batch], dtype=np.float64)
        not_done = 1.0 - np.array([e.done for e in batch], dtype=np.float64)
        eye = np.eye(obs.shape[1])
        weights = self.weights.copy()
        for _ in range(max(self.iterations, 1)):
            target = rewards + self.gamma * not_done * (next_obs @ weights.T).max(axis=1)
            new = weights.copy()
            for a in range(len(self.deltas)):
                rows = actions == a
                if not rows.any():
                    continue
                x, y = obs[rows], target[rows]
                new[a] = np.linalg.solve(x.T @ x + self.ridge * eye, x.T @ y)
            weights = new
        if not np.all(np.isfinite(weights)):
            raise FloatingPointError("online update produced non-finite weights; kept the previous policy")
        self.weights = weights
        self.version += 1
