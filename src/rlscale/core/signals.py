"""The signals a scaler reads each decision period, as a batch of arrays.

The simulator produces them (lagged as metrics would be), the live controller builds them
from Prometheus; every policy and the observation builder consume only this type, which is
what lets the same policy run offline and live.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

#: Fields a source may not measure at all: absent or NaN means "not measured", not a fault
#: (without the SLO violation fraction the budget feedback holds its margin).
OPTIONAL_SIGNAL_FIELDS: tuple[str, ...] = ("slo_violation_fraction",)


@dataclass(frozen=True)
class PodView:
    """The ready pods of ``n`` services one by one, and the CPU sample they are judged by: what
    the HPA's ``groupPods`` reads (reference/autoscalers.md §1.4) to tell a pod whose CPU
    sample predates its readiness from one that has served a whole sample window.

    ``start_time_s``/``ready_time_s`` are ``(n, P)``: per ready pod its start time and the time
    of its last transition to Ready, on the clock of ``ScalingSignals.time_s``; NaN pads the
    columns past a service's ready pods, ``-inf`` means "long before the run" (a warm start).
    Pods that are not ready are not listed (``pending_replicas`` counts them).
    ``cpu_sample_time_s``/``cpu_sample_window_s`` are ``(n,)``: the CPU sample's timestamp (the
    end of its window, as metrics-server stamps it) and the window's length.
    """

    start_time_s: np.ndarray
    ready_time_s: np.ndarray
    cpu_sample_time_s: np.ndarray
    cpu_sample_window_s: np.ndarray

    def __post_init__(self) -> None:
        n = np.shape(self.cpu_sample_time_s)
        if len(n) != 1 or np.shape(self.cpu_sample_window_s) != n:
            raise ValueError("PodView: cpu_sample_time_s and cpu_sample_window_s must be (n,) arrays")
        for name in ("start_time_s", "ready_time_s"):
            shape = np.shape(getattr(self, name))
            if len(shape) != 2 or shape[0] != n[0]:
                raise ValueError(f"PodView: {name} must be an (n, pods) array with n = {n[0]}, got {shape}")
        if np.shape(self.start_time_s) != np.shape(self.ready_time_s):
            raise ValueError("PodView: start_time_s and ready_time_s must have the same shape")

    def select(self, index: np.ndarray | slice) -> PodView:
        return PodView(*(np.asarray(getattr(self, name))[index] for name in _POD_VIEW_FIELDS))

    @classmethod
    def stack(cls, items: list[PodView]) -> PodView:
        """Concatenate batches, padding the pod columns with NaN to the widest."""
        width = max(v.start_time_s.shape[1] for v in items)

        def padded(a: np.ndarray) -> np.ndarray:
            return np.pad(
                np.asarray(a, dtype=np.float64), ((0, 0), (0, width - a.shape[1])), constant_values=np.nan
            )

        return cls(
            start_time_s=np.concatenate([padded(v.start_time_s) for v in items]),
            ready_time_s=np.concatenate([padded(v.ready_time_s) for v in items]),
            cpu_sample_time_s=np.concatenate([v.cpu_sample_time_s for v in items]),
            cpu_sample_window_s=np.concatenate([v.cpu_sample_window_s for v in items]),
        )


@dataclass(frozen=True)
class ScalingSignals:
    """One decision period's inputs for ``n`` scaled services (arrays of shape ``(n,)``).

    Unknown values are NaN (a live metric that is missing); the safety guard, not the
    policies, decides what to do about them. ``pods`` is the optional per-pod view
    (:class:`PodView`); None where the source cannot see pods one by one (Prometheus
    aggregates), and then the HPA counts every ready pod as ready for CPU.
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
    pods: PodView | None = None  # per-pod readiness, where the source has it

    def __post_init__(self) -> None:
        if self.slo_violation_fraction is None:
            object.__setattr__(self, "slo_violation_fraction", np.full(np.shape(self.time_s), np.nan))

    @property
    def num_envs(self) -> int:
        return int(np.shape(self.time_s)[0])

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The per-service ``(n,)`` signals (not the optional ``pods`` view)."""
        return _SIGNAL_FIELDS

    def select(self, index: np.ndarray | slice | int) -> ScalingSignals:
        """The signals of a subset of the batch (keeps the batch axis for an int). The
        batched evaluation slices every step for every policy group, so the field names are
        computed once, not per call."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return type(self)(
            pods=None if self.pods is None else self.pods.select(index),
            **{name: np.asarray(getattr(self, name))[index] for name in _SIGNAL_FIELDS},
        )

    @classmethod
    def stack(cls, items: list[ScalingSignals]) -> ScalingSignals:
        """Concatenate batches; the pod view is kept only when every item has one."""
        views = [s.pods for s in items]
        return cls(
            pods=PodView.stack([v for v in views if v is not None])
            if all(v is not None for v in views)
            else None,
            **{
                name: np.concatenate([np.asarray(getattr(s, name)) for s in items])
                for name in cls.field_names()
            },
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


_POD_VIEW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(PodView))
_SIGNAL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ScalingSignals) if f.name != "pods")
