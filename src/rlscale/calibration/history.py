"""A Deployment's recent past, read from Prometheus range queries onto one time grid.

``rlscale calibrate`` fits a service preset to what the usual exporters record (docs/live.md):
cAdvisor CPU counters, kube-state-metrics replica counts and resource requests/limits, and
the application's ``http_requests_total`` counter and ``http_request_duration_seconds``
histogram. Rates and the histogram are read at ``step_s``; the replica counts at a finer step
(``replica_step_s``), because the start-up delay is a lag between two of their changes and a
coarse grid would round it to whole steps.

Every required query that returns nothing raises :class:`CalibrationDataError` naming the
signal and the PromQL, since a silent NaN column would only surface later as a bad fit.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from rlscale.controller.metrics_source import MetricQueries
from rlscale.prometheus.client import (
    EMPTY,
    PROMETHEUS_MAX_POINTS,
    PrometheusClient,
    PrometheusError,
    samples_on_grid,
)
from rlscale.prometheus.promql import check_query_templates, render_query

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class CalibrationDataError(ValueError):
    """The history cannot be read or is unusable; the message names the signal and query."""


def parse_duration_s(text: str, what: str = "duration") -> float:
    """``"30m"``, ``"1h30m"``, ``"5s"``, ``"500ms"`` or a plain number of seconds -> seconds."""
    value = str(text).strip()
    try:
        seconds = float(value)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(value):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if pos != len(value) or pos == 0:
            raise ValueError(f"{what}: {text!r} is not a duration (e.g. 30m, 1h30m, 5s, 500ms)") from None
    if not (np.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{what}: must be > 0, got {text!r}")
    return seconds


@dataclass(frozen=True)
class CalibrationQueries:
    """PromQL per signal (``$namespace``, ``$deployment``, ``$window`` substituted). The shared
    ones default to :class:`MetricQueries`' expressions, so calibration reads the same series
    the live controller does."""

    #: Requests *served* per second: the latency histogram counts every served request.
    served_rps: str = (
        "sum(rate(http_request_duration_seconds_count"
        '{namespace="$namespace",service="$deployment"}[$window]))'
    )
    #: Sum of served latencies per second; divided by served_rps it is the mean latency.
    latency_sum_rate: str = (
        'sum(rate(http_request_duration_seconds_sum{namespace="$namespace",service="$deployment"}[$window]))'
    )
    request_rate_rps: str = MetricQueries.request_rate_rps
    dropped_rps: str | None = (
        "sum(rate(http_requests_dropped_total"
        '{namespace="$namespace",service="$deployment"}[$window])) or vector(0)'
    )
    cpu_usage_cores: str = MetricQueries.cpu_usage_cores
    #: Per-pod CPU request (kube-state-metrics), cores; max over pods = the template's value.
    cpu_request_cores: str = (
        'max(kube_pod_container_resource_requests{namespace="$namespace",pod=~"$deployment-.*",'
        'resource="cpu",unit="core"})'
    )
    #: Per-pod CPU limit (kube-state-metrics ``kube_pod_container_resource_limits``); optional:
    #: without it the limit is taken equal to the request (Guaranteed QoS) and a note says so.
    cpu_limit_cores: str | None = (
        'max(kube_pod_container_resource_limits{namespace="$namespace",pod=~"$deployment-.*",'
        'resource="cpu",unit="core"})'
    )
    memory_request_bytes: str | None = (
        'max(kube_pod_container_resource_requests{namespace="$namespace",pod=~"$deployment-.*",'
        'resource="memory",unit="byte"})'
    )
    latency_p95_s: str | None = MetricQueries.latency_p95_s
    ready_replicas: str = MetricQueries.ready_replicas
    desired_replicas: str = MetricQueries.desired_replicas
    window: str = "1m"

    #: Signals without which nothing can be fitted.
    REQUIRED: ClassVar[tuple[str, ...]] = (
        "served_rps",
        "latency_sum_rate",
        "request_rate_rps",
        "cpu_usage_cores",
        "cpu_request_cores",
        "ready_replicas",
        "desired_replicas",
    )

    def __post_init__(self) -> None:
        check_query_templates(self, self.REQUIRED)

    def render(self, signal: str, namespace: str, deployment: str) -> str | None:
        return render_query(getattr(self, signal), namespace, deployment, self.window)

    @property
    def window_s(self) -> float:
        return parse_duration_s(self.window, "window")


#: Signals read on the rate grid (``step_s``) and on the replica grid (``replica_step_s``).
RATE_SIGNALS: tuple[str, ...] = (
    "served_rps",
    "latency_sum_rate",
    "request_rate_rps",
    "dropped_rps",
    "cpu_usage_cores",
    "latency_p95_s",
)
REPLICA_SIGNALS: tuple[str, ...] = ("ready_replicas", "desired_replicas")
CONSTANT_SIGNALS: tuple[str, ...] = ("cpu_request_cores", "cpu_limit_cores", "memory_request_bytes")


@dataclass
class History:
    """Signals on two grids (unix seconds); a missing sample is NaN.

    ``rates[name]`` are aligned with ``time_s``; ``replicas[name]`` with ``replica_time_s``;
    ``constants[name]`` is the median of a per-pod template value (NaN when not exported).
    ``queries`` keeps the PromQL actually sent, for error messages and the report.
    """

    time_s: np.ndarray
    rates: dict[str, np.ndarray]
    replica_time_s: np.ndarray
    replicas: dict[str, np.ndarray]
    constants: dict[str, float]
    window_s: float
    queries: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def replicas_at(self, name: str, t_s: np.ndarray) -> np.ndarray:
        """The replica series' last value at or before each ``t_s`` (Prometheus lookback)."""
        idx = np.searchsorted(self.replica_time_s, np.asarray(t_s) + 1e-9, side="right") - 1
        values = self.replicas[name]
        out = np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)
        return out.astype(np.float64)


def fetch_history(
    source: PrometheusClient,
    namespace: str,
    deployment: str,
    *,
    since_s: float,
    step_s: float,
    queries: CalibrationQueries | None = None,
    end_s: float | None = None,
    replica_step_s: float | None = None,
) -> History:
    """Range-query every signal over ``[end - since, end]``. Raises :class:`CalibrationDataError`
    (naming the signal and the query) when a required query returns nothing or fails."""
    q = queries or CalibrationQueries()
    if not (since_s > 0 and step_s > 0):
        raise ValueError(f"fetch_history: since_s and step_s must be > 0, got {since_s}, {step_s}")
    end = time.time() if end_s is None else float(end_s)
    start = end - float(since_s)
    if since_s / step_s > PROMETHEUS_MAX_POINTS:
        raise CalibrationDataError(
            f"--since {since_s:g} s at --step {step_s:g} s is {since_s / step_s:.0f} points per series; "
            f"Prometheus answers at most {PROMETHEUS_MAX_POINTS}: use a larger --step"
        )
    if replica_step_s is None:
        replica_step_s = max(min(step_s, 1.0), since_s / (PROMETHEUS_MAX_POINTS - 1))
    notes: list[str] = []
    rendered: dict[str, str] = {}

    def read(signal: str, a: float, b: float, s: float) -> list[tuple[float, float]] | None:
        expr = q.render(signal, namespace, deployment)
        if expr is None:
            return None
        rendered[signal] = expr
        try:
            return source.query_range(expr, a, b, s)
        except PrometheusError as exc:
            required = signal in CalibrationQueries.REQUIRED
            if exc.reason == EMPTY:
                message = (
                    f"signal {signal}: the query returned no data between "
                    f"{time.strftime('%H:%M:%S', time.localtime(a))} and "
                    f"{time.strftime('%H:%M:%S', time.localtime(b))}: {expr} "
                    f"(check --namespace/--deployment, the exporter's labels and --since)"
                )
            else:
                message = f"signal {signal}: query failed ({exc.reason}: {exc.detail}): {expr}"
            if required:
                raise CalibrationDataError(message) from None
            notes.append(message + "; not used")
            return None

    n = int(np.floor((end - start) / step_s + 1e-9)) + 1
    time_s = start + step_s * np.arange(n)
    rates: dict[str, np.ndarray] = {}
    for signal in RATE_SIGNALS:
        points = read(signal, start, end, step_s)
        rates[signal] = np.full(n, np.nan) if points is None else samples_on_grid(points, start, step_s, n)
    if "dropped_rps" not in rendered or np.all(np.isnan(rates["dropped_rps"])):
        rates["dropped_rps"] = np.zeros(n)
    nr = int(np.floor((end - start) / replica_step_s + 1e-9)) + 1
    replica_time_s = start + replica_step_s * np.arange(nr)
    replicas: dict[str, np.ndarray] = {}
    for signal in REPLICA_SIGNALS:
        points = read(signal, start, end, replica_step_s)
        assert points is not None  # required
        replicas[signal] = samples_on_grid(points, start, replica_step_s, nr)
    constants: dict[str, float] = {}
    for signal in CONSTANT_SIGNALS:
        points = read(signal, start, end, step_s)
        values = np.array([v for _, v in points or []], dtype=np.float64)
        values = values[np.isfinite(values)]
        constants[signal] = float(np.median(values)) if values.size else float("nan")
        if values.size and np.ptp(values) > 1e-9 * max(1.0, abs(float(values.max()))):
            notes.append(
                f"{signal} changed during the window ({values.min():g}..{values.max():g}): "
                "the median is used; calibrate over a window with one pod template"
            )
    for signal in CalibrationQueries.REQUIRED:
        series = rates.get(signal, replicas.get(signal))
        if series is not None and not np.any(np.isfinite(series)):
            raise CalibrationDataError(
                f"signal {signal}: every sample is NaN (no traffic, or a 0/0 rate): {rendered.get(signal)}"
            )
    return History(
        time_s=time_s,
        rates=rates,
        replica_time_s=replica_time_s,
        replicas=replicas,
        constants=constants,
        window_s=q.window_s,
        queries=rendered,
        notes=notes,
    )
