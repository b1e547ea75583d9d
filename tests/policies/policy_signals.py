"""Builds ScalingSignals batches for the policy tests (a module with a unique name, so
``from policy_signals import make_signals`` never picks up another folder's conftest)."""

from __future__ import annotations

import numpy as np

from rlscale.core.signals import ScalingSignals


def make_signals(n: int = 1, **values: float | np.ndarray) -> ScalingSignals:
    """A batch of ``n`` with sensible defaults; any field may be a scalar or an (n,) array."""
    defaults: dict[str, float] = {
        "time_s": 0.0,
        "desired_replicas": 1,
        "ready_replicas": 1,
        "pending_replicas": 0,
        "request_rate_rps": 0.0,
        "cpu_utilization": 0.5,
        "latency_p95_s": 0.1,
        "backlog_requests": 0.0,
        "dropped_rps": 0.0,
    }
    unknown = set(values) - set(defaults)
    if unknown:
        raise KeyError(f"unknown signal fields {sorted(unknown)}")
    defaults.update(values)
    return ScalingSignals(
        **{k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for k, v in defaults.items()}
    )
