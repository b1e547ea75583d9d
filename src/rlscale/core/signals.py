"""The signals a scaler reads each decision period, as a batch of arrays.

The simulator produces them (lagged as metrics would be), the live controller builds them
from Prometheus; every policy and the observation builder consume only this type, which is
what lets the same policy run offline and live.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

#: Fields a source may not measure at all: absent or NaN means "not measured", not a fault
#: (without the SLO violation fraction the budget feedback holds its margin).
OPTIONAL_SIGNAL_FIELDS: tuple[str, ...] = ("slo_violation_fraction",)


@dataclass(frozen=True)
class ScalingSignals:
    """One decision period's inputs for ``n`` scaled services (arrays of shape ``(n,)``).

    Unknown values are NaN (a live metric that is missing); the safety guard, not the
    policies, decides what to do about them.
    """

    time_s: np.ndarray  # seconds since the start of the run / controller
    desired_replicas: np.ndarray  # spec.replicas of the scale subresource (int)
    ready_replicas: np.ndarray  # ready pods serving traffic (int)
    pending_replicas: np.ndarray  # created but not yet ready (int)
    request_rate_rps: np.ndarray  # offered requests per second, as measured (lagged)
    cpu_utilization: np.ndarray  # mean CPU usage / CPU request over ready pods (1.0 = 100 %)
    latency_p95_s: np.ndarray  # p95 response time of the last period
    backlog_requests: np.ndarray  # queued requests (0 where the live path cannot see it)
    dropped_rps: np.ndarray  # requests dropped per second (timeouts, queue overflow)
    #: share of the period's requests over the latency SLO or dropped (core.slo_budget);
    #: optional for sources that cannot measure it (None = unknown, stored as NaN)
    slo_violation_fraction: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.slo_violation_fraction is None:
            object.__setattr__(self, "slo_violation_fraction", np.full(np.shape(self.time_s), np.nan))

    @property
    def num_envs(self) -> int:
        return int(np.shape(self.time_s)[0])

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def select(self, index: np.ndarray | slice | int) -> ScalingSignals:
        """The signals of a subset of the batch (keeps the batch axis for an int)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return replace(self, **{name: np.asarray(getattr(self, name))[index] for name in self.field_names()})

    @classmethod
    def stack(cls, items: list[ScalingSignals]) -> ScalingSignals:
        return cls(
            **{
                name: np.concatenate([np.asarray(getattr(s, name)) for s in items])
                for name in cls.field_names()
            }
        )

    @classmethod
    def single(cls, **values: float) -> ScalingSignals:
        """A batch of one, from scalars (used by the live controller and tests)."""
        missing = set(cls.field_names()) - set(values) - set(OPTIONAL_SIGNAL_FIELDS)
        if missing:
            raise ValueError(f"ScalingSignals.single: missing {sorted(missing)}")
        return cls(
            **{
                name: np.asarray([values[name]], dtype=np.float64)
                for name in cls.field_names()
                if name in values
            }
        )
