"""Seed 000's agent on Stable-Baselines3: Double DQN with dueling heads, prioritised replay
and n-step returns (alfredoLipari/CustomAutoscaler-k8s app/dqn/agent.py; dueling and
n-step are this issue's additions). Only the learning step and the Q-network differ from
SB3's DQN; exploration, target updates, logging and saving are SB3's."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import DQN
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork

from rlscale.agents.per import PER_BETA0, PrioritizedNStepReplayBuffer
from rlscale.nets.modules import DuelingHead


def double_dqn_target(
    q_online_next: th.Tensor,
    q_target_next: th.Tensor,
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor,
) -> th.Tensor:
    """y = r + (1 − done)·γ^m·Q_target(s', argmax_a Q_online(s', a)) (van Hasselt et al. 2016):
    the online net selects, the target net evaluates. Shapes ``(B, A)``, ``(B, 1)``."""
    best = q_online_next.argmax(dim=1, keepdim=True)
    return rewards + (1.0 - dones) * discounts * q_target_next.gather(1, best)


class DuelingQNetwork(QNetwork):
    """SB3 QNetwork whose ``q_net`` is a dueling head (V + A − mean A)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hidden = tuple(self.net_arch) if self.net_arch else (128, 64)
        self.q_net = DuelingHead(self.features_dim, int(self.action_space.n), hidden)


class DuelingDQNPolicy(DQNPolicy):
    """DQNPolicy building dueling Q-networks; seed 000's MLP sizes 128-64 by default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("net_arch", [128, 64])
        super().__init__(*args, **kwargs)

    def make_q_net(self) -> DuelingQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return DuelingQNetwork(**net_args).to(self.device)


class DoubleDQNPER(DQN):
    """Double DQN + dueling + PER + n-step. Defaults are seed 000's (γ 0.99, lr 1e-3, batch 64,
    soft target τ = 1e-3 each step, ε 1 → 0.05 over 90 % of training)."""

    def __init__(
        self,
        policy: Any = DuelingDQNPolicy,
        env: Any = None,
        *,
        n_steps: int = 3,
        per_alpha: float = 0.6,
        per_beta0: float = PER_BETA0,
        learning_rate: float = 1e-3,
        buffer_size: int = 100_000,
        batch_size: int = 64,
        tau: float = 1e-3,
        gamma: float = 0.99,
        target_update_interval: int = 1,
        exploration_fraction: float = 0.9,
        exploration_final_eps: float = 0.05,
        **kwargs: Any,
    ) -> None:
        self.per_beta0 = float(per_beta0)
        kwargs.setdefault("replay_buffer_class", PrioritizedNStepReplayBuffer)
        rb_kwargs = dict(kwargs.pop("replay_buffer_kwargs", None) or {})
        rb_kwargs.setdefault("n_steps", n_steps)
        rb_kwargs.setdefault("gamma", gamma)
        rb_kwargs.setdefault("alpha", per_alpha)
        rb_kwargs.setdefault("beta", per_beta0)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,
            exploration_final_eps=exploration_final_eps,
            replay_buffer_kwargs=rb_kwargs,
            **kwargs,
        )

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        buffer = self.replay_buffer
        assert isinstance(buffer, PrioritizedNStepReplayBuffer)
        # β anneals linearly 0.4 → 1 over training (seed 000 adds 0.001 per sample call)
        buffer.beta = self.per_beta0 + (1.0 - self.per_beta0) * (1.0 - self._current_progress_remaining)
        losses = []
        for _ in range(gradient_steps):
            data = buffer.sample(batch_size, env=self._vec_normalize_env)
            with th.no_grad():
                target = double_dqn_target(
                    self.q_net(data.next_observations),
                    self.q_net_target(data.next_observations),
                    data.rewards,
                    data.dones,
                    data.discounts,
                )
            current = self.q_net(data.observations).gather(1, data.actions.long())
            td = current - target
            loss = (data.weights * F.smooth_l1_loss(current, target, reduction="none")).mean()
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            buffer.update_priorities(data.indices, td.detach().cpu().numpy())
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/per_beta", buffer.beta)
