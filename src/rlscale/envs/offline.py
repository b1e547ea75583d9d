"""Offline training on the measured TeaStore transitions (seed 001), with the seed's bugs fixed.

Each step sets a configuration (replicas 1–3, CPU 400–900 m, heap 400–900 MB: the measured
ranges) and the outcome (throughput, mean latency) is **looked up** in the Locust runs
(``backend="data"``): a random row among the measured ones nearest to the configuration and
the current offered load. ``backend="sim"`` answers the same questions with the calibrated
:class:`~rlscale.sim.teastore.TeaStoreModel` instead, so a policy trained in either can be
evaluated in the other with the same observation, action and reward.

Fixes to the seed's offline envs (reference/seed-systems.md §2.2, §2.4), each on purpose:

1. ``reset()`` always started at row 558 → the start configuration and the load position
   are drawn from the env's seeded generator;
2. a configuration with no exact match gave −5 and left the state unchanged (an action
   that "fails" in the data but would work on a cluster) → the *nearest measured*
   configuration answers (normalised knob distance, then offered load); the distance is in
   ``info["match_distance"]``;
3. env v3 re-sampled the offered load with the row, so load was not a trajectory → the load
   follows a window of a trace, one value per step, independent of the action;
4. env v3's latency term ``tanh(20 − rt_ms)`` was ≈0 for any RT above 22 ms → latency is
   compared with the SLO in seconds;
5. v1 min-max-normalised throughput and cost over the whole file (the reward depended on
   rows the agent never saw) → the reward is in physical units: failed-request fraction and
   $ of requested resources, the same as :mod:`rlscale.envs.vertical`;
6. rows with missing metrics (``cpu_usage == 0``) are dropped, as v2 did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlscale.envs.episodes import episode_rng, sample_episode
from rlscale.envs.rewards import SLO_WEIGHT
from rlscale.sim.params import KUBECOST_PRICE_CPU_CORE_HOUR, KUBECOST_PRICE_MEMORY_GIB_HOUR
from rlscale.sim.teastore import TEASTORE_MODEL, TeaStoreModel
from rlscale.workload.app2scale import load_locust

REPLICAS = (1, 3)
CPU_CORES = (0.4, 0.9)
HEAP_MB = (400.0, 900.0)
SLO_S = 0.2
#: Offered-load range of the measured runs (expected_tps 24–448 req/s).
LOAD_RANGE_RPS = (24.0, 448.0)
OBS_SIZE = 7


def _load_windows(seed: int | None, count: int, length: int) -> list[np.ndarray]:
    """Seeded load trajectories over the measured offered-load range (smooth, daily-like)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    lo, hi = LOAD_RANGE_RPS
    out = []
    for _ in range(count):
        period, phase = rng.uniform(20, 60), rng.uniform(0, 2 * np.pi)
        level, amp = rng.uniform(0.25, 0.45), rng.uniform(0.15, 0.3)
        frac = np.clip(
            level + amp * np.sin(2 * np.pi * t / period + phase) + rng.normal(0, 0.03, length), 0.0, 1.0
        )
        out.append(lo + (hi - lo) * 0.6 * frac)
    return out


class MeasuredTable:
    """The measured rows, indexed for nearest-configuration lookups."""

    def __init__(self, frame: Any) -> None:
        self.replicas = frame["replicas"].to_numpy(float)
        self.cpu = frame["cpu_limit_cores"].to_numpy(float)
        self.heap = frame["heap_mb"].to_numpy(float)
        self.offered = frame["offered_rps"].to_numpy(float)
        self.throughput = frame["throughput_rps"].to_numpy(float)
        self.latency = frame["latency_mean_s"].to_numpy(float)
        if self.replicas.size == 0:
            raise ValueError("offline env: no measured rows left after dropping rows with missing metrics")

    def lookup(
        self, replicas: float, cpu: float, heap: float, offered: float, rng: np.random.Generator, k: int = 5
    ) -> tuple[float, float, float]:
        """(throughput, latency, config distance) of a random row among the ``k`` nearest."""
        dist_cfg = (
            np.abs(self.replicas - replicas) / 2.0
            + np.abs(self.cpu - cpu) / 0.5
            + np.abs(self.heap - heap) / 500.0
        )
        best = dist_cfg.min()
        cand = np.flatnonzero(dist_cfg <= best + 1e-9)
        d_load = np.abs(self.offered[cand] - offered)
        near = cand[np.argsort(d_load, kind="stable")[:k]]
        row = int(rng.choice(near))
        # scale to the requested load where the nearest row had a different one
        scale = offered / self.offered[row] if self.throughput[row] >= 0.97 * self.offered[row] else 1.0
        return float(min(self.throughput[row] * scale, offered)), float(self.latency[row]), float(best)


class OfflineTeaStoreEnv(gym.Env):
    """Factored action ``MultiDiscrete([3, 3, 3])`` (replica/CPU/heap deltas −1/0/+1 step).
    Observation (7, in [0, 1]ish): replica, CPU and heap positions in their ranges, offered
    load / 448, previous step's served fraction, latency / SLO (clipped at 5), the load trend."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        backend: str = "data",
        data_paths: Sequence[str] | None = None,
        model: TeaStoreModel = TEASTORE_MODEL,
        episode_steps: int = 50,
        seed: int | None = None,
        table: MeasuredTable | None = None,
    ) -> None:
        if backend not in ("data", "sim"):
            raise ValueError(f"backend must be 'data' or 'sim', got {backend!r}")
        self.backend = backend
        self.model = model
        self.table = (
            table if table is not None or backend != "data" else MeasuredTable(load_locust(data_paths))
        )
        self.episode_steps = episode_steps
        self.windows = _load_windows(seed, 16, 4 * episode_steps)
        self.action_space = gym.spaces.MultiDiscrete([3, 3, 3])
        self.observation_space = gym.spaces.Box(0.0, 5.0, shape=(OBS_SIZE,), dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self._cfg = np.array([1.0, 0.6, 700.0])
        self._load = self.windows[0][:episode_steps]
        self._t = 0
        self._last = (1.0, 0.02)
        self.max_cost_usd_h = REPLICAS[1] * (
            CPU_CORES[1] * KUBECOST_PRICE_CPU_CORE_HOUR
            + float(model.memory_gib(HEAP_MB[1])) * KUBECOST_PRICE_MEMORY_GIB_HOUR
        )

    def _obs(self) -> np.ndarray:
        r, c, h = self._cfg
        load = self._load[min(self._t, len(self._load) - 1)]
        prev = self._load[max(self._t - 1, 0)]
        return np.array(
            [
                (r - REPLICAS[0]) / (REPLICAS[1] - REPLICAS[0]),
                (c - CPU_CORES[0]) / (CPU_CORES[1] - CPU_CORES[0]),
                (h - HEAP_MB[0]) / (HEAP_MB[1] - HEAP_MB[0]),
                load / LOAD_RANGE_RPS[1],
                self._last[0],
                min(self._last[1] / SLO_S, 5.0),
                np.clip(0.5 + (load - prev) / LOAD_RANGE_RPS[1], 0.0, 1.0),
            ],
            dtype=np.float32,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._rng = episode_rng(self._rng, seed)
        self._load = sample_episode(self._rng, self.windows, self.episode_steps)
        self._cfg = np.array(
            [
                float(self._rng.integers(1, 4)),
                0.4 + 0.1 * int(self._rng.integers(0, 6)),
                400.0 + 100.0 * int(self._rng.integers(0, 6)),
            ]
        )
        self._t = 0
        self._last = (1.0, 0.02)
        return self._obs(), {}

    def outcome(self, offered: float) -> tuple[float, float, float]:
        r, c, h = self._cfg
        if self.backend == "data":
            assert self.table is not None
            return self.table.lookup(r, c, h, offered, self._rng)
        x = float(self.model.throughput_rps(offered, r, c, h))
        lat = float(self.model.latency_mean_s(offered * 0.999 if x >= offered else x * 0.98, r, c, h))
        if x < offered:  # overloaded: the closed-loop Locust response time (~150–400 ms measured)
            lat = max(lat, 0.15 * offered / max(x, 1.0))
        return x, lat, 0.0

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.int64).reshape(3) - 1
        r, c, h = self._cfg
        self._cfg = np.array(
            [
                float(np.clip(r + a[0], *REPLICAS)),
                float(np.clip(round(c + 0.1 * a[1], 6), *CPU_CORES)),
                float(np.clip(h + 100.0 * a[2], *HEAP_MB)),
            ]
        )
        offered = float(self._load[self._t])
        x, lat, dist = self.outcome(offered)
        served_frac = min(x / offered, 1.0) if offered > 0 else 1.0
        failed = (1.0 - served_frac) + served_frac * float(lat > SLO_S)
        r, c, h = self._cfg
        cost_h = r * (
            c * KUBECOST_PRICE_CPU_CORE_HOUR
            + float(self.model.memory_gib(h)) * KUBECOST_PRICE_MEMORY_GIB_HOUR
        )
        reward = -(SLO_WEIGHT * failed + cost_h / self.max_cost_usd_h)
        self._last = (served_frac, lat)
        self._t += 1
        info = {
            "served_fraction": served_frac,
            "latency_s": lat,
            "match_distance": dist,
            "cost_usd_h": cost_h,
            "failed_fraction": failed,
        }
        return self._obs(), float(reward), False, self._t >= self.episode_steps, info


def evaluate_offline(
    policy: Any, env: OfflineTeaStoreEnv, episodes: int = 10, seed: int = 1000
) -> dict[str, float]:
    """Mean return, failed fraction and cost of ``policy`` (``predict(obs) -> action`` like SB3,
    or a callable) over ``episodes`` seeded episodes."""
    returns, failed, cost = [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            act = policy.predict(obs, deterministic=True)[0] if hasattr(policy, "predict") else policy(obs)
            obs, r, term, trunc, info = env.step(act)
            total += r
            failed.append(info["failed_fraction"])
            cost.append(info["cost_usd_h"])
            done = term or trunc
        returns.append(total)
    return {
        "mean_return": float(np.mean(returns)),
        "failed_fraction": float(np.mean(failed)),
        "cost_usd_h": float(np.mean(cost)),
    }
