"""Small helpers shared by the baseline policies: batch checks, masks, clamps and a
per-env ring of timestamped values (the in-memory histories of the HPA and friends).

NumPy only: the live controller imports the policies.
"""

from __future__ import annotations

import numpy as np

from rlscale.core.kubernetes_defaults import KPA_TARGET_UTILIZATION
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec

#: Default per-pod load target as a fraction of ``ServiceSpec.pod_capacity_rps`` for the
#: rate-based baselines (KEDA, KPA, predictive): Knative's default target utilisation (70 %).
#: Using the same fraction for every rate-based baseline keeps them comparable; each policy
#: exposes it as a parameter.
DEFAULT_TARGET_FRACTION = KPA_TARGET_UTILIZATION

#: Slack when comparing float timestamps (s): the simulator's clock is a sum of float steps.
TIME_EPS_S = 1e-9


def check_batch(signals: ScalingSignals, num_envs: int, policy: str) -> None:
    """Fail loudly when a policy built for ``num_envs`` receives another batch size."""
    if signals.num_envs != num_envs:
        raise ValueError(f"{policy}: built for num_envs={num_envs}, got signals for {signals.num_envs} envs")


def env_mask(mask: np.ndarray | None, num_envs: int, policy: str) -> np.ndarray:
    """A boolean (num_envs,) mask; ``None`` means every env."""
    if mask is None:
        return np.ones(num_envs, dtype=bool)
    m = np.asarray(mask)
    if m.shape != (num_envs,):
        raise ValueError(f"{policy}.reset: mask must have shape ({num_envs},), got {m.shape}")
    return m.astype(bool)


def current_replicas(signals: ScalingSignals) -> np.ndarray:
    """``spec.replicas`` as int64 (NaN, which should not happen, reads as 0)."""
    d = np.asarray(signals.desired_replicas, dtype=np.float64)
    return np.where(np.isfinite(d), np.rint(d), 0).astype(np.int64)


def as_count(values: np.ndarray) -> np.ndarray:
    """A pod count array as int64, NaN read as 0."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(v), np.rint(v), 0).astype(np.int64)


def clamp_replicas(values: np.ndarray, spec: ServiceSpec) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=np.int64), spec.min_replicas, spec.max_replicas)


def resolve_bounds(
    spec: ServiceSpec, min_replicas: int | None, max_replicas: int | None, policy: str
) -> tuple[int, int]:
    lo = spec.min_replicas if min_replicas is None else int(min_replicas)
    hi = spec.max_replicas if max_replicas is None else int(max_replicas)
    if not 0 <= lo <= hi:
        raise ValueError(f"{policy}: need 0 <= min_replicas <= max_replicas, got {lo}..{hi}")
    return lo, hi


class TimedRing:
    """Per-env unordered store of ``(time_s, value)`` pairs, batched as ``(num_envs, K)``.

    It keeps every entry a caller may still query: when the oldest slot of an env is still
    inside the keep horizon the buffer doubles, so results never depend on its capacity
    (the HPA keeps a growing slice per HPA and reuses slots older than its windows; this is
    the same semantics without a Python loop over envs). Empty slots hold time −inf.

    ``rows``: the envs an operation touches, as int indices, or None for every env (views
    instead of fancy-indexed copies: the batched evaluation reconciles every env each step).
    """

    def __init__(self, num_envs: int, capacity: int = 8) -> None:
        self.times_s = np.full((num_envs, max(1, capacity)), -np.inf)
        self.values = np.zeros((num_envs, max(1, capacity)), dtype=np.int64)
        self._every_row = np.arange(num_envs)

    def clear(self, mask: np.ndarray) -> None:
        self.times_s[mask] = -np.inf
        self.values[mask] = 0

    def store(
        self, rows: np.ndarray | None, now_s: np.ndarray, value: np.ndarray, keep_from_s: np.ndarray
    ) -> None:
        """Store one entry per env in ``rows``, reusing the oldest slot; entries with time >=
        ``keep_from_s`` must survive."""
        index = self._every_row if rows is None else rows
        if index.size == 0:
            return
        slot = np.argmin(self.times_s if rows is None else self.times_s[rows], axis=1)
        oldest = self.times_s[index, slot]
        if np.any(oldest >= keep_from_s):
            k = self.times_s.shape[1]
            self.times_s = np.concatenate([self.times_s, np.full_like(self.times_s, -np.inf)], axis=1)
            self.values = np.concatenate([self.values, np.zeros_like(self.values)], axis=1)
            slot = np.where(oldest >= keep_from_s, k, slot)
        self.times_s[index, slot] = now_s
        self.values[index, slot] = value

    def in_window(self, rows: np.ndarray | None, cutoff_s: np.ndarray, inclusive: bool) -> np.ndarray:
        """(len(rows), K) mask of entries newer than ``cutoff_s`` (or equal when inclusive)."""
        t = self.times_s if rows is None else self.times_s[rows]
        c = np.asarray(cutoff_s)[:, None]
        return (t >= c) if inclusive else (t > c)

    def windowed(
        self, rows: np.ndarray | None, cutoff_s: np.ndarray, inclusive: bool, fill: int
    ) -> np.ndarray:
        """(len(rows), K) values, ``fill`` where the entry is outside the window: reduce it
        along axis 1 for a windowed max, min or sum."""
        values = self.values if rows is None else self.values[rows]
        return np.where(self.in_window(rows, cutoff_s, inclusive), values, fill)
