"""Gymnasium environments over the batched simulator (DESIGN.md §4).

``gym.make("rlscale/Autoscale-v0", ...)`` gives the single-env view;
``gym.make_vec("rlscale/Autoscale-v0", num_envs=N, vectorization_mode="vector_entry_point")``
the native batched env (same-step autoreset). Keyword arguments: ``service``,
``load_windows``, ``episode_steps``, ``action_mode``, ``reward``, ``randomize_service``,
``forecast`` (the true future mean: an upper bound), ``forecaster`` (a
:class:`rlscale.nets.forecaster.LoadForecaster` fed the observed rates), ``seed``.
"""

from __future__ import annotations

import gymnasium as gym

from rlscale.envs.rewards import REWARDS, get_reward, lipari2025, slo_cost, violation_fraction
from rlscale.envs.single import AutoscaleEnv
from rlscale.envs.vector import INFO_KEYS, AutoscaleVectorEnv, synthetic_windows

ENV_ID = "rlscale/Autoscale-v0"


def register() -> None:
    """Register :data:`ENV_ID` with Gymnasium (idempotent; done on import)."""
    if ENV_ID in gym.registry:
        return
    gym.register(
        id=ENV_ID,
        entry_point="rlscale.envs.single:AutoscaleEnv",
        vector_entry_point="rlscale.envs.vector:AutoscaleVectorEnv",
        disable_env_checker=False,
    )


register()

__all__ = [
    "ENV_ID",
    "INFO_KEYS",
    "REWARDS",
    "AutoscaleEnv",
    "AutoscaleVectorEnv",
    "get_reward",
    "lipari2025",
    "register",
    "slo_cost",
    "synthetic_windows",
    "violation_fraction",
]
