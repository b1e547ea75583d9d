"""Prioritised n-step replay (seed 000's PER, app/dqn/prioritized_replay_buffer.py, plus
n-step returns), extending Stable-Baselines3's ReplayBuffer storage.

Priorities follow Schaul et al. 2016 (proportional variant), with seed 000's constants:
P(i) = p_i^α / Σ_k p_k^α with α = 0.6; importance weights w_i = (N·P(i))^-β normalised by
the largest weight in the buffer, β annealed 0.4 → 1; new transitions get the largest
priority seen so far; after a learning step p_i = |TD_i| + 1e-6.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize

#: seed 000 (prioritized_replay_buffer.py): alpha, initial beta, priority epsilon.
PER_ALPHA = 0.6
PER_BETA0 = 0.4
PER_EPSILON = 1e-6


class PrioritizedSamples(NamedTuple):
    """A ReplayBufferSamples with the PER extras (field order keeps SB3 compatibility)."""

    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    discounts: th.Tensor
    weights: th.Tensor
    indices: np.ndarray  # (batch, 2): buffer position, env index


def importance_weights(priorities: np.ndarray, chosen: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Normalised importance weights for the ``chosen`` flat indices of ``priorities``
    (all stored transitions, raw p_i > 0): w = (N·P)^-β / max_k (N·P_k)^-β."""
    scaled = np.asarray(priorities, dtype=np.float64) ** alpha
    probs = scaled / scaled.sum()
    n = probs.size
    w = (n * probs[chosen]) ** (-beta)
    return w / (n * probs.min()) ** (-beta)


def n_step_returns(
    rewards: np.ndarray, boundaries: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step discounted returns of ``(batch, n)`` reward sequences that stop after the
    first episode boundary (done, truncation or the newest stored step), inclusive.

    Returns (returns, steps used m, bootstrap discount γ^m), each ``(batch,)``.
    """
    n = rewards.shape[1]
    first = np.where(boundaries.any(axis=1), boundaries.argmax(axis=1), n - 1)
    mask = np.arange(n)[None, :] <= first[:, None]
    disc = gamma ** np.arange(n, dtype=np.float64)[None, :]
    returns = (rewards * disc * mask).sum(axis=1)
    steps = mask.sum(axis=1)
    return returns, steps, gamma**steps


class PrioritizedNStepReplayBuffer(ReplayBuffer):
    """SB3 replay storage with proportional prioritised sampling and n-step targets."""

    def __init__(
        self,
        *args: Any,
        n_steps: int = 3,
        gamma: float = 0.99,
        alpha: float = PER_ALPHA,
        beta: float = PER_BETA0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.optimize_memory_usage:
            raise NotImplementedError("PrioritizedNStepReplayBuffer does not support optimize_memory_usage")
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.n_steps = int(n_steps)
        self.gamma = float(gamma)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.priorities = np.zeros((self.buffer_size, self.n_envs), dtype=np.float64)
        self.max_priority = 1.0

    def add(self, *args: Any, **kwargs: Any) -> None:
        pos = self.pos
        super().add(*args, **kwargs)
        self.priorities[pos, :] = self.max_priority  # max-priority insert: every new sample is seen

    def _stored(self) -> int:
        return self.buffer_size if self.full else self.pos

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> PrioritizedSamples:  # type: ignore[override]
        stored = self._stored()
        if stored == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        flat = self.priorities[:stored].reshape(-1)
        scaled = flat**self.alpha
        cdf = np.cumsum(scaled)
        u = np.random.uniform(0.0, cdf[-1], size=batch_size)  # noqa: NPY002 - SB3 seeds the global RNG (set_random_seed)
        chosen = np.minimum(np.searchsorted(cdf, u, side="right"), flat.size - 1)
        weights = importance_weights(flat, chosen, self.alpha, self.beta)
        batch_inds, env_inds = np.divmod(chosen, self.n_envs)
        return self._get_prioritized(batch_inds, env_inds, weights, env)

    def _get_prioritized(
        self, batch_inds: np.ndarray, env_inds: np.ndarray, weights: np.ndarray, env: VecNormalize | None
    ) -> PrioritizedSamples:
        steps = np.arange(self.n_steps)[None, :]
        idx = (batch_inds[:, None] + steps) % self.buffer_size
        e = env_inds[:, None]
        rewards = self._normalize_reward(self.rewards[idx, e], env).astype(np.float64)
        dones = self.dones[idx, e] > 0
        timeouts = self.timeouts[idx, e] > 0
        # the newest stored step ends every sequence: what follows it is stale or empty
        newest = idx == (self.pos - 1) % self.buffer_size
        returns, used, discount = n_step_returns(rewards, dones | timeouts | newest, self.gamma)
        last = (batch_inds + used - 1) % self.buffer_size
        terminal = (self.dones[last, env_inds] > 0) & ~(self.timeouts[last, env_inds] > 0)
        obs = self._normalize_obs(self.observations[batch_inds, env_inds], env)
        next_obs = self._normalize_obs(self.next_observations[last, env_inds], env)
        return PrioritizedSamples(
            observations=self.to_torch(obs),
            actions=self.to_torch(self.actions[batch_inds, env_inds]),
            next_observations=self.to_torch(next_obs),
            dones=self.to_torch(terminal.astype(np.float32)[:, None]),
            rewards=self.to_torch(returns.astype(np.float32)[:, None]),
            discounts=self.to_torch(discount.astype(np.float32)[:, None]),
            weights=self.to_torch(weights.astype(np.float32)[:, None]),
            indices=np.stack([batch_inds, env_inds], axis=1),
        )

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """p_i = |TD_i| + ε for the sampled transitions (seed 000)."""
        p = np.abs(np.asarray(td_errors, dtype=np.float64).reshape(-1)) + PER_EPSILON
        self.priorities[indices[:, 0], indices[:, 1]] = p
        self.max_priority = max(self.max_priority, float(p.max()))
