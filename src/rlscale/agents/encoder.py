"""AWARE's workload encoder (Qiu et al., ATC '23 §3.3; artifact rl-controller/meta_ppo.py) as
an SB3 features extractor: a GRU over the last ``n_stack`` observations (stacked by SB3's
``VecFrameStack``) gives an embedding of the kind of load being served, concatenated with the
newest observation. AWARE feeds it the top-M reward trajectories of the same app; here the
recent trajectory of the service itself plays that role, so it also works live."""

from __future__ import annotations

import gymnasium as gym
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from rlscale.nets.modules import GRUEncoder


class TrajectoryEncoder(BaseFeaturesExtractor):
    """Features = [newest observation, GRU embedding of the stacked trajectory]."""

    def __init__(
        self, observation_space: gym.spaces.Box, n_stack: int = 8, hidden: int = 64, embed_dim: int = 32
    ) -> None:
        total = int(observation_space.shape[0])
        if total % n_stack:
            raise ValueError(f"observation of width {total} is not {n_stack} stacked frames")
        self.n_stack = n_stack
        self.frame_dim = total // n_stack
        super().__init__(observation_space, features_dim=self.frame_dim + embed_dim)
        self.encoder = GRUEncoder(self.frame_dim, hidden, embed_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        seq = observations.reshape(observations.shape[0], self.n_stack, self.frame_dim)
        return th.cat([seq[:, -1], self.encoder(seq)], dim=1)
