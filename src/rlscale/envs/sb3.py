"""Stable-Baselines3 adapter: exposes :class:`AutoscaleVectorEnv` as an SB3 ``VecEnv``.

SB3 expects same-step autoreset with the last observation of a finished episode in
``infos[i]["terminal_observation"]`` and ``"TimeLimit.truncated"`` set for time-limit ends,
which is what the native env's ``final_obs`` provides. Per-env info dicts are built only
where needed (finished episodes, and the step metrics when ``include_metrics``) because a
list of dicts per step dominates the cost at large ``num_envs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from rlscale.envs.vector import AutoscaleVectorEnv


class SB3VecEnv(VecEnv):
    """Wrap a native :class:`AutoscaleVectorEnv` (same-step autoreset) for SB3 algorithms."""

    def __init__(self, vector_env: AutoscaleVectorEnv, include_metrics: bool = False) -> None:
        if not isinstance(vector_env, AutoscaleVectorEnv):
            vector_env = getattr(vector_env, "unwrapped", vector_env)
        if not isinstance(vector_env, AutoscaleVectorEnv):
            raise TypeError(f"SB3VecEnv needs an AutoscaleVectorEnv, got {type(vector_env).__name__}")
        if not vector_env._autoreset:
            raise ValueError("SB3VecEnv needs a vector env with autoreset enabled")
        self.venv = vector_env
        self.include_metrics = include_metrics
        self._actions: np.ndarray | None = None
        self._episode_returns = np.zeros(vector_env.num_envs)
        self._episode_lengths = np.zeros(vector_env.num_envs, dtype=np.int64)
        super().__init__(
            vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space
        )

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        self._episode_returns[:] = 0.0
        self._episode_lengths[:] = 0
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait called without step_async")
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        self._episode_returns += reward
        self._episode_lengths += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if self.include_metrics:
            for key, value in info.items():
                if key.startswith("_") or key == "final_obs":
                    continue
                for i, v in enumerate(np.asarray(value).tolist()):
                    infos[i][key] = v
        if dones.any():
            final_obs = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = final_obs[i]
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                infos[i]["episode"] = {
                    "r": float(self._episode_returns[i]),
                    "l": int(self._episode_lengths[i]),
                }
            self._episode_returns[dones] = 0.0
            self._episode_lengths[dones] = 0
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def _indices(self, indices: VecEnvIndices) -> Iterable[int]:
        return self._get_indices(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
