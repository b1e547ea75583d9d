"""The pools env: checker, the placement action changes the routing, static baselines."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlscale.envs.pools import PoolsEnv
from rlscale.policies.pools import StaticPoolsPolicy, static_baselines


def test_env_checker_and_placement_action() -> None:
    env = PoolsEnv(episode_steps=20, seed=0)
    check_env(env, skip_render_check=True)
    shares = {}
    for placement in (0, 1, 2):
        env.reset(seed=3)
        out = [env.step(np.array([2, 2, placement]))[-1]["gpu_share"] for _ in range(5)]
        shares[placement] = np.mean(out)
    assert shares[0] > shares[1] > shares[2]


def test_static_baselines_sizes() -> None:
    pols = {p.name: p for p in static_baselines(100.0, (40.0, 8.0), (10, 10))}
    assert pols["all-gpu"].replicas == (4, 0)
    assert pols["all-cpu"].replicas == (0, 10)
    assert pols["balanced"].replicas == (2, 9)
    reps, place = pols["balanced"].act(np.zeros(3))
    assert reps.shape == (3, 2) and np.all(place == 1)
    with pytest.raises(ValueError, match="placement"):
        StaticPoolsPolicy("x", (1, 1), placement=5)
