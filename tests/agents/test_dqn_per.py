"""Seed 000's agent parts against hand-computed values: PER importance weights and
sampling, n-step returns across episode ends, the Double-DQN target."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from rlscale.agents.dqn import DoubleDQNPER, double_dqn_target
from rlscale.agents.per import PrioritizedNStepReplayBuffer, importance_weights, n_step_returns


def _buffer(
    n_steps: int = 3, gamma: float = 0.5, size: int = 16, n_envs: int = 1
) -> PrioritizedNStepReplayBuffer:
    return PrioritizedNStepReplayBuffer(
        size,
        spaces.Box(-10, 10, (1,), np.float32),
        spaces.Discrete(3),
        device="cpu",
        n_envs=n_envs,
        n_steps=n_steps,
        gamma=gamma,
    )


def _add(
    buf: PrioritizedNStepReplayBuffer, t: float, reward: float, done: bool, timeout: bool = False
) -> None:
    buf.add(
        np.array([[t]], np.float32),
        np.array([[t + 1]], np.float32),
        np.array([[1]]),
        np.array([reward], np.float32),
        np.array([done]),
        [{"TimeLimit.truncated": timeout}],
    )


def test_importance_weights_match_hand_computation() -> None:
    p = np.array([1.0, 2.0, 4.0, 0.5])
    alpha, beta = 0.6, 0.4
    # by hand: P_i = p_i^0.6 / sum; w_i = (N P_i)^-0.4 / max_k (N P_k)^-0.4
    s = [1.0, 2.0**0.6, 4.0**0.6, 0.5**0.6]
    total = sum(s)
    w = [(4 * x / total) ** -0.4 for x in s]
    wmax = max(w)
    got = importance_weights(p, np.array([0, 1, 2, 3]), alpha, beta)
    np.testing.assert_allclose(got, [x / wmax for x in w], rtol=1e-12)
    assert got[3] == pytest.approx(1.0)  # the least likely sample gets weight 1


def test_max_priority_insert_and_update() -> None:
    buf = _buffer()
    _add(buf, 0, 1.0, False)
    buf.update_priorities(np.array([[0, 0]]), np.array([5.0]))
    _add(buf, 1, 1.0, False)
    assert buf.priorities[0, 0] == pytest.approx(5.0 + 1e-6)
    assert buf.priorities[1, 0] == pytest.approx(5.0 + 1e-6)  # new sample gets the max seen
    buf.update_priorities(np.array([[1, 0]]), np.array([-0.5]))
    assert buf.priorities[1, 0] == pytest.approx(0.5 + 1e-6)  # |TD| + eps


def test_sampling_follows_priorities() -> None:
    np.random.seed(0)  # noqa: NPY002 - the buffer samples from the global RNG, like SB3
    buf = _buffer(n_steps=1)
    for t in range(4):
        _add(buf, t, 0.0, False)
    buf.priorities[:4, 0] = [1.0, 1.0, 1.0, 8.0]
    counts = np.bincount(buf.sample(20000).indices[:, 0], minlength=4)
    expected = np.array([1.0, 1.0, 1.0, 8.0**0.6]) / (3 + 8.0**0.6)
    np.testing.assert_allclose(counts / 20000, expected, atol=0.015)


def test_n_step_returns_hand_computed() -> None:
    rewards = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    boundaries = np.array([[False, False, False], [False, True, False], [True, False, False]])
    returns, steps, disc = n_step_returns(rewards, boundaries, gamma=0.5)
    np.testing.assert_allclose(returns, [1 + 0.5 * 2 + 0.25 * 3, 1 + 0.5 * 2, 4.0])
    np.testing.assert_array_equal(steps, [3, 2, 1])
    np.testing.assert_allclose(disc, [0.125, 0.25, 0.5])


def test_buffer_n_step_sample_stops_at_done_and_truncation() -> None:
    buf = _buffer(n_steps=3, gamma=0.5)
    _add(buf, 0, 1.0, False)
    _add(buf, 1, 2.0, True)  # terminal: no bootstrap
    _add(buf, 2, 3.0, False)
    _add(buf, 3, 4.0, True, timeout=True)  # truncation: bootstrap from next_obs
    _add(buf, 4, 5.0, False)
    _add(buf, 5, 6.0, False)
    w = np.ones(4)
    s = buf._get_prioritized(np.array([0, 2, 3, 4]), np.zeros(4, dtype=np.int64), w, None)
    np.testing.assert_allclose(s.rewards.numpy()[:, 0], [1 + 0.5 * 2, 3 + 0.5 * 4, 4.0, 5 + 0.5 * 6])
    np.testing.assert_allclose(s.discounts.numpy()[:, 0], [0.25, 0.25, 0.5, 0.25])
    np.testing.assert_array_equal(s.dones.numpy()[:, 0], [1, 0, 0, 0])
    # next observation is the one after the last step used
    np.testing.assert_allclose(s.next_observations.numpy()[:, 0], [2, 4, 4, 6])


def test_double_dqn_target_hand_computed() -> None:
    q_online = th.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, 1.0]])
    q_target = th.tensor([[10.0, 20.0, 30.0], [7.0, 8.0, 9.0]])
    rewards = th.tensor([[1.0], [2.0]])
    dones = th.tensor([[0.0], [1.0]])
    discounts = th.tensor([[0.9], [0.9]])
    y = double_dqn_target(q_online, q_target, rewards, dones, discounts)
    # row 0: online picks action 1, target values it 20 -> 1 + 0.9*20 (max of target would be 30)
    # row 1: terminal -> reward only
    np.testing.assert_allclose(y.numpy()[:, 0], [19.0, 2.0])


def test_dueling_double_dqn_per_trains() -> None:
    import gymnasium as gym

    model = DoubleDQNPER(env=gym.make("CartPole-v1"), learning_starts=64, buffer_size=2000, seed=0)
    model.learn(400)
    assert model.replay_buffer.beta > 0.4
    assert model.replay_buffer.max_priority > 1.0 or np.any(model.replay_buffer.priorities[:400] != 1.0)
    assert hasattr(model.q_net.q_net, "advantage")
