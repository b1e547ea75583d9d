"""The native Gymnasium vector env: ``num_envs`` services stepped by one batched
``sim.step`` call, observations from ``core.ObservationBuilder``, same-step autoreset.

Randomness: each sub-env ``i`` has its own episode generator seeded ``seed + i`` (window,
start offset and domain randomisation, as Gymnasium's SyncVectorEnv seeds its copies), so a
vector env and ``N`` single envs seeded ``seed + i`` see the same episodes. Poisson arrivals
and start-up jitter come from one batch generator (per-env generators would need a Python
loop per step); with deterministic arrivals and a fixed start-up delay the two are equal
step for step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlscale.core.actions import ActionConfig, decode_action
from rlscale.core.observation import ObservationBuilder, observation_bounds
from rlscale.core.signals import ScalingSignals
from rlscale.envs.rewards import get_reward
from rlscale.nets.forecaster import LoadForecaster
from rlscale.sim import simulator as sim
from rlscale.sim.params import ServiceParams
from rlscale.sim.presets import load_service
from rlscale.sim.randomization import draw_service, randomize, sizing_bounds
from rlscale.sim.variants import warm_start_replicas

#: Default episode: 240 steps of 15 s = 1 hour.
DEFAULT_EPISODE_STEPS = 240
#: Info keys copied from the step metrics (arrays of shape (num_envs,)).
INFO_KEYS: tuple[str, ...] = (
    "offered",
    "served",
    "dropped",
    "violating",
    "backlog",
    "ready",
    "pending",
    "desired",
    "pod_seconds",
    "cpu_core_seconds",
    "cost_usd",
    "latency_mean_s",
    "latency_p95_s",
    "arrival_rate_rps",
)


def synthetic_windows(
    params: ServiceParams, seed: int | None, count: int = 16, length: int = 4 * DEFAULT_EPISODE_STEPS
) -> list[np.ndarray]:
    """Seeded sinusoid + AR(1) noise windows (req/s), peaking below 95 % of max capacity, so
    the env works without a trace."""
    rng = np.random.default_rng(seed)
    spec = params.spec
    peak_rps = spec.pod_capacity_rps * spec.max_replicas
    t = np.arange(length, dtype=np.float64)
    out = []
    for _ in range(count):
        period = rng.uniform(120.0, 480.0)
        level = rng.uniform(0.2, 0.5)
        amp = rng.uniform(0.1, 0.35)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        eps = rng.normal(0.0, 0.02, size=length)
        noise = np.empty(length)
        acc = 0.0
        for i in range(length):  # AR(1), once per window at construction
            acc = 0.9 * acc + eps[i]
            noise[i] = acc
        frac = np.clip(level + amp * np.sin(2.0 * np.pi * t / period + phase) + noise, 0.02, 0.95)
        out.append(peak_rps * frac)
    return out


class AutoscaleVectorEnv(VectorEnv):
    """Batched autoscaling env (see module docstring). Actions per ``action_mode``
    (``core.actions``), reward by name (``envs.rewards``); episodes are truncated after
    ``episode_steps`` steps (never terminated). ``info`` holds the step metrics in
    :data:`INFO_KEYS`, plus ``reward_violation_fraction``, and ``final_obs``/``_final_obs``
    for the sub-envs that were reset this step."""

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        service: str | ServiceParams = "web",
        load_windows: Sequence[np.ndarray] | None = None,
        episode_steps: int = DEFAULT_EPISODE_STEPS,
        action_mode: str | ActionConfig = "delta",
        reward: str = "slo_cost",
        randomize_service: float = 0.0,
        forecast: bool = False,
        forecaster: LoadForecaster | None = None,
        seed: int | None = None,
        compute_p95: bool = True,
        render_mode: str | None = None,
        autoreset: bool = True,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1, got {episode_steps}")
        if not 0.0 <= randomize_service < 1.0:
            raise ValueError(f"randomize_service must be in [0, 1), got {randomize_service}")
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.base_params = load_service(service)
        if self.base_params.num_envs is not None:
            raise ValueError("service must have scalar parameters (randomisation is done by the env)")
        self.spec_service = self.base_params.spec
        self.episode_steps = int(episode_steps)
        self.action_config = (
            action_mode if isinstance(action_mode, ActionConfig) else ActionConfig(mode=action_mode)
        )
        self.reward_name = reward
        self._reward_fn = get_reward(reward)
        self.randomize_service = float(randomize_service)
        if forecast and forecaster is not None:
            raise ValueError("give forecast=True (the true future mean) or a forecaster, not both")
        self.forecast = bool(forecast)
        self.forecaster = forecaster
        self.compute_p95 = bool(compute_p95)
        self._autoreset = bool(autoreset)
        self._seed = seed

        # load windows -> one flat array, each window padded with its last value for the forecast
        spec = self.spec_service
        self._forecast_steps = max(1, spec.startup_delay_steps)
        windows = (
            list(load_windows) if load_windows is not None else synthetic_windows(self.base_params, seed)
        )
        if not windows:
            raise ValueError("load_windows is empty")
        starts, lengths, parts = [], [], []
        pos = 0
        for i, w in enumerate(windows):
            arr = np.asarray(w, dtype=np.float64)
            if arr.ndim != 1:
                raise ValueError(f"load_windows[{i}] must be 1-D, got shape {arr.shape}")
            if arr.size < self.episode_steps:
                raise ValueError(
                    f"load_windows[{i}] has {arr.size} steps, fewer than episode_steps={self.episode_steps}"
                )
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                bad = int(np.flatnonzero(~np.isfinite(arr) | (arr < 0))[0])
                raise ValueError(f"load_windows[{i}][{bad}] = {arr[bad]}: rates must be finite and >= 0")
            padded = np.concatenate([arr, np.full(self._forecast_steps + 1, arr[-1])])
            starts.append(pos)
            lengths.append(arr.size)
            parts.append(padded)
            pos += padded.size
        self._flat = np.concatenate(parts)
        self._cumsum = np.concatenate([[0.0], np.cumsum(self._flat)])
        self._win_start = np.asarray(starts, dtype=np.int64)
        self._win_len = np.asarray(lengths, dtype=np.int64)

        # spaces
        low, high = observation_bounds()
        self.single_observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        if self.action_config.discrete:
            self.single_action_space = gym.spaces.Discrete(self.action_config.num_actions)
        else:
            self.single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        # per-env parameters (mutable copies: rows are redrawn at each reset when randomised)
        self.params = randomize(
            self.base_params, np.random.default_rng(seed), num_envs, self.randomize_service
        )
        sizing = sizing_bounds(self.params) if self.randomize_service > 0 else self.params
        self._state = sim.init_state(sizing, num_envs, spec.min_replicas)
        self._builder = ObservationBuilder(spec, num_envs, forecaster)
        self._offset = np.zeros(num_envs, dtype=np.int64)  # flat index of each env's step 0
        self._seed_rngs(seed)
        self._signals: ScalingSignals | None = None
        self._needs_reset = True

    # ------------------------------------------------------------------ randomness
    def _seed_rngs(self, seed: int | None) -> None:
        if seed is None:
            root = np.random.SeedSequence()
            self._episode_rngs = [np.random.default_rng(s) for s in root.spawn(self.num_envs)]
            self._sim_rng = np.random.default_rng(root.spawn(1)[0])
        else:
            self._episode_rngs = [np.random.default_rng(int(seed) + i) for i in range(self.num_envs)]
            self._sim_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
        self.np_random = self._sim_rng

    # ------------------------------------------------------------------ helpers
    def _rates_at(self, step_offset: int = 0) -> np.ndarray:
        return self._flat[self._offset + self._state.elapsed_steps + step_offset]

    def _forecast_rps(self) -> np.ndarray | None:
        if not self.forecast:
            return None
        i = self._offset + self._state.elapsed_steps
        h = self._forecast_steps
        return (self._cumsum[i + 1 + h] - self._cumsum[i + 1]) / h

    def _reset_rows(self, rows: np.ndarray) -> None:
        """Sample a window, an offset and (optionally) service parameters for each row, and
        warm-start the simulator there."""
        params = self.params
        for i in rows:
            rng = self._episode_rngs[i]
            w = int(rng.integers(len(self._win_start)))
            self._offset[i] = self._win_start[w] + int(
                rng.integers(self._win_len[w] - self.episode_steps + 1)
            )
            if self.randomize_service > 0:
                for name, value in draw_service(self.base_params, rng, 1, self.randomize_service).items():
                    getattr(params, name)[i] = value[0]
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[rows] = True
        rate0 = self._flat[self._offset]
        spec = self.spec_service
        replicas = warm_start_replicas(rate0, spec)
        sim.reset_state(self.params, self._state, mask, replicas, None, rate0)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, list):
            seed = seed[0]
        if seed is not None:
            self._seed_rngs(seed)
        mask = None if options is None else options.get("reset_mask")
        if mask is None:
            rows = np.arange(self.num_envs)
            self._builder.reset()
        else:
            mask = np.asarray(mask, dtype=bool)
            rows = np.flatnonzero(mask)
        self._reset_rows(rows)
        sig = sim.signals(self.params, self._state)
        if mask is None:
            obs = self._builder.build(sig, self._forecast_rps())
        else:
            self._builder.reset(mask, rate_rps=sig.request_rate_rps)
            obs = self._fresh_obs(sig, rows)
        self._signals = sig
        self._needs_reset = False
        self._last_obs = obs
        return obs, {}

    def _fresh_obs(self, sig: ScalingSignals, rows: np.ndarray) -> np.ndarray:
        """Observation of freshly reset rows (a fresh builder: its history is the current rate)."""
        obs = getattr(self, "_last_obs", None)
        out = (
            np.zeros((self.num_envs, len(self.single_observation_space.low)), dtype=np.float32)
            if obs is None
            else obs.copy()
        )
        forecast = self._forecast_rps()
        out[rows] = ObservationBuilder(self.spec_service, rows.size, self.forecaster).build(
            sig.select(rows), None if forecast is None else forecast[rows]
        )
        return out

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset or self._signals is None:
            raise RuntimeError("AutoscaleVectorEnv.step called before reset()")
        spec = self.spec_service
        prev_desired = self._state.desired.copy()
        desired = decode_action(
            self.action_config, actions, self._signals, spec, observation=getattr(self, "_last_obs", None)
        )
        rate = self._rates_at()
        _, metrics = sim.step(
            self.params, self._state, rate, desired, self._sim_rng, compute_p95=self.compute_p95
        )
        reward = self._reward_fn(metrics, spec, prev_desired)
        sig = sim.signals(self.params, self._state)
        obs = self._builder.build(sig, self._forecast_rps())
        truncated = self._state.elapsed_steps >= self.episode_steps
        terminated = np.zeros(self.num_envs, dtype=bool)
        info: dict[str, Any] = {key: getattr(metrics, key) for key in INFO_KEYS}
        info["slo_failures"] = metrics.violating + metrics.dropped
        everyone = np.ones(self.num_envs, dtype=bool)
        for key in list(info):
            info["_" + key] = everyone
        if truncated.any():
            rows = np.flatnonzero(truncated)
            info["final_obs"] = obs.copy()
            info["_final_obs"] = truncated.copy()
            if self._autoreset:
                self._reset_rows(rows)
                sig = sim.signals(self.params, self._state)
                self._builder.reset(truncated, rate_rps=sig.request_rate_rps)
                self._last_obs = obs
                obs = self._fresh_obs(sig, rows)
            else:
                self._needs_reset = True
        self._signals = sig
        self._last_obs = obs
        return obs, reward.astype(np.float64), terminated, truncated, info

    @property
    def signals(self) -> ScalingSignals | None:
        """The signals the next action is decoded against (what a policy would read)."""
        return self._signals

    def close_extras(self, **kwargs: Any) -> None:
        return None
