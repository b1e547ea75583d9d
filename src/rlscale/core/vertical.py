"""The vertical-scaling contract (seed 001: replicas × CPU limit × heap): what a vertical
policy reads and returns. Shared by ``policies.vpa`` and ``envs.vertical``; numpy only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlscale.core.signals import ScalingSignals


@dataclass(frozen=True)
class VerticalSignals:
    """Scaling signals plus the pod template (arrays of shape ``(n,)``)."""

    signals: ScalingSignals
    cpu_limit_cores: np.ndarray
    heap_mb: np.ndarray
    memory_used_gib: np.ndarray

    @property
    def num_envs(self) -> int:
        return self.signals.num_envs

    @property
    def cpu_usage_cores(self) -> np.ndarray:
        """Mean CPU use per ready pod (utilisation × request; request = limit here)."""
        return np.asarray(self.signals.cpu_utilization, dtype=np.float64) * np.asarray(
            self.cpu_limit_cores, dtype=np.float64
        )


@dataclass(frozen=True)
class VerticalAction:
    """Desired replicas (int64), CPU limit (cores) and heap (MB) per service."""

    replicas: np.ndarray
    cpu_cores: np.ndarray
    heap_mb: np.ndarray
