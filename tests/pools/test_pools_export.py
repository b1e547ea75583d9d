"""``policy_network`` exports a MultiDiscrete (pools) PPO actor that acts as SB3 does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlscale.envs.pools import PoolsEnv
from rlscale.nets.forward import deterministic_action, mlp_forward
from rlscale.nets.modules import DenseStack
from rlscale.sim import pools as ps


def test_policy_network_exports_multidiscrete_ppo() -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    from rlscale.agents.export import policy_network

    env = PoolsEnv(ps.pools_preset(), seed=0)
    model = sb3.PPO(
        "MlpPolicy", env, seed=0, n_steps=32, batch_size=32, policy_kwargs={"net_arch": [16]}, device="cpu"
    )
    tensors, network = policy_network(model)

    nvec = [int(v) for v in env.action_space.nvec]
    assert network["head"] == "argmax"
    assert network["nvec"] == nvec
    obs = np.random.default_rng(0).normal(0.0, 2.0, size=(200, env.observation_space.shape[0]))
    raw = mlp_forward(tensors, network["layers"], obs.astype(np.float32))
    assert raw.shape == (200, sum(nvec))
    # the per-part argmax the numpy path, the torch module (hence ONNX) and SB3 all take
    expected = model.predict(obs.astype(np.float32), deterministic=True)[0]
    np.testing.assert_array_equal(deterministic_action(raw, network), expected)
    with torch.no_grad():
        torch_actions = DenseStack(tensors, network)(torch.as_tensor(obs, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(torch_actions, expected)
