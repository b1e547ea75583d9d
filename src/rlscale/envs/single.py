"""The single-env view: the vector env with ``num_envs=1`` and no autoreset, so it is the same
code path (and passes ``gymnasium.utils.env_checker.check_env``)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlscale.envs.vector import AutoscaleVectorEnv


class AutoscaleEnv(gym.Env):
    """One autoscaled service. Takes the same keyword arguments as :class:`AutoscaleVectorEnv`."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        kwargs.pop("num_envs", None)
        self._vec = AutoscaleVectorEnv(num_envs=1, autoreset=False, **kwargs)
        self.render_mode = render_mode
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space

    @property
    def vector_env(self) -> AutoscaleVectorEnv:
        return self._vec

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self._vec.reset(seed=seed, options=options)
        return obs[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._vec.action_config.discrete:
            batch = np.asarray([int(np.asarray(action).reshape(-1)[0])], dtype=np.int64)
        else:
            batch = np.asarray(action, dtype=np.float32).reshape(1, -1)
        obs, reward, terminated, truncated, info = self._vec.step(batch)
        single_info = {
            k: np.asarray(v)[0].item() for k, v in info.items() if not k.startswith("_") and k != "final_obs"
        }
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), single_info
