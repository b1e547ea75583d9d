"""Turning a policy's raw action into a desired replica count: one pure, numpy-only decoder
shared by the Gymnasium envs (training) and ``policies.learned`` (offline and live), so a
trained network means the same thing everywhere.

Modes:
- ``delta``: Discrete index into ``deltas`` (default (-1, 0, +1), as seed 000), added to the
  current desired count.
- ``ratio``: Discrete index into ``ratios`` (multiplicative steps); any ratio other than 1
  moves at least one replica in its direction.
- ``target``: Box[-1, 1] mapped linearly onto [min_replicas, max_replicas].
- ``utilization``: Box[-1, 1] mapped onto a target utilisation ``u`` in ``utilization_range``;
  desired = ceil(observed rate / (pod capacity · u)). Scale-free: the same action means the
  same headroom for a 2-pod and a 200-pod service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec

ActionMode = Literal["delta", "ratio", "target", "utilization"]
ACTION_MODES: tuple[str, ...] = ("delta", "ratio", "target", "utilization")


@dataclass(frozen=True)
class ActionConfig:
    """How raw actions are decoded (stored next to a checkpoint as JSON)."""

    mode: str = "delta"
    deltas: tuple[int, ...] = (-1, 0, 1)
    ratios: tuple[float, ...] = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
    utilization_range: tuple[float, float] = (0.3, 1.0)

    def __post_init__(self) -> None:
        if self.mode not in ACTION_MODES:
            raise ValueError(f"unknown action mode {self.mode!r}; known modes: {list(ACTION_MODES)}")
        if not self.deltas:
            raise ValueError("ActionConfig.deltas must not be empty")
        if not self.ratios or any(not r > 0 for r in self.ratios):
            raise ValueError("ActionConfig.ratios must be non-empty and > 0")
        lo, hi = self.utilization_range
        if not 0 < lo < hi:
            raise ValueError(
                f"ActionConfig.utilization_range must satisfy 0 < low < high, got {self.utilization_range}"
            )

    @property
    def discrete(self) -> bool:
        return self.mode in ("delta", "ratio")

    @property
    def num_actions(self) -> int:
        """Number of discrete actions (1-D Box dimension for continuous modes)."""
        if self.mode == "delta":
            return len(self.deltas)
        if self.mode == "ratio":
            return len(self.ratios)
        return 1

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "deltas": list(self.deltas),
            "ratios": list(self.ratios),
            "utilization_range": list(self.utilization_range),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ActionConfig:
        return cls(
            mode=str(data.get("mode", "delta")),
            deltas=tuple(int(x) for x in data.get("deltas", (-1, 0, 1))),  # type: ignore[union-attr]
            ratios=tuple(float(x) for x in data.get("ratios", cls.ratios)),  # type: ignore[union-attr]
            utilization_range=tuple(float(x) for x in data.get("utilization_range", (0.3, 1.0))),  # type: ignore[arg-type,union-attr]
        )


def _current(signals: ScalingSignals) -> np.ndarray:
    cur = np.asarray(signals.desired_replicas, dtype=np.float64)
    ready = np.asarray(signals.ready_replicas, dtype=np.float64)
    return np.where(np.isfinite(cur), cur, np.where(np.isfinite(ready), ready, 1.0))


def decode_action(
    mode: str | ActionConfig,
    action: np.ndarray,
    signals: ScalingSignals,
    spec: ServiceSpec,
) -> np.ndarray:
    """Desired replicas (int64, shape ``(n,)``, clamped to [min, max]) for a batch of raw actions.

    ``action``: int indices of shape ``(n,)`` for discrete modes, floats of shape ``(n,)`` or
    ``(n, 1)`` in [-1, 1] for continuous ones (clipped). ``signals`` supplies the current
    desired count and the observed request rate.
    """
    config = mode if isinstance(mode, ActionConfig) else ActionConfig(mode=mode)
    n = signals.num_envs
    act = np.asarray(action)
    if config.discrete:
        idx = act.reshape(-1)
        if idx.shape != (n,):
            raise ValueError(f"decode_action({config.mode}): expected {n} actions, got shape {act.shape}")
        if idx.dtype.kind == "f":
            idx = np.rint(idx)
        idx = idx.astype(np.int64)
        if np.any((idx < 0) | (idx >= config.num_actions)):
            raise ValueError(
                f"decode_action({config.mode}): action index out of range [0, {config.num_actions})"
            )
        cur = _current(signals)
        if config.mode == "delta":
            desired = cur + np.asarray(config.deltas, dtype=np.float64)[idx]
        else:
            r = np.asarray(config.ratios, dtype=np.float64)[idx]
            scaled = np.rint(cur * r)
            desired = np.where(
                r > 1, np.maximum(scaled, cur + 1), np.where(r < 1, np.minimum(scaled, cur - 1), cur)
            )
    else:
        x = act.astype(np.float64).reshape(n, -1)[:, 0] if act.size == n else None
        if x is None:
            raise ValueError(f"decode_action({config.mode}): expected {n} actions, got shape {act.shape}")
        x = np.clip(np.where(np.isfinite(x), x, 0.0), -1.0, 1.0)
        frac = 0.5 * (x + 1.0)
        if config.mode == "target":
            desired = np.rint(spec.min_replicas + frac * (spec.max_replicas - spec.min_replicas))
        else:
            lo, hi = config.utilization_range
            u = lo + frac * (hi - lo)
            rate = np.asarray(signals.request_rate_rps, dtype=np.float64)
            rate = np.where(np.isfinite(rate), np.maximum(rate, 0.0), 0.0)
            desired = np.ceil(rate / (spec.pod_capacity_rps * u) - 1e-9)
    return np.clip(desired, spec.min_replicas, spec.max_replicas).astype(np.int64)
