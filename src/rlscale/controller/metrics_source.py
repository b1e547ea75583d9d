"""Scaling signals from Prometheus, with every way a metric can be wrong detected and named.

One PromQL expression per signal (:class:`MetricQueries`), templated by ``$namespace``,
``$deployment`` and ``$window``; the defaults fit the usual exporters (cAdvisor,
kube-state-metrics, an ingress/app exporting ``http_requests_total`` and an
``http_request_duration_seconds`` histogram; docs/live.md). ``read`` never raises for an
expected fault: a signal that is stale, NaN/Inf, empty, timed out or behind an HTTP error comes
back as NaN with a named reason, and the safety guard decides whether to hold or fall back.

Staleness: an instant query's result carries the *evaluation* time, not the sample's, so the
age of the data is measured by a separate ``freshness`` expression (by default
``time() - max(timestamp(kube_deployment_spec_replicas{...}))``: seconds since the target's
newest raw sample). When the scrape target vanishes, Prometheus writes staleness markers and
the queries turn empty, which is reported as ``empty``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.prometheus.client import (
    EMPTY,
    PrometheusClient,
    PrometheusError,
    validate_name,
)
from rlscale.prometheus.promql import check_query_templates, render_query

# -- health reasons ---------------------------------------------------------------------
OK = "ok"
STALE = "stale"  # newest sample older than staleness_s
NAN = "nan"  # the value is NaN (e.g. histogram_quantile over no traffic, 0/0)
INF = "inf"
UNCONFIGURED = "unconfigured"  # no query for an optional signal

#: Names of the signals a reading reports health for (ScalingSignals fields but time_s).
SIGNALS: tuple[str, ...] = tuple(f for f in ScalingSignals.field_names() if f != "time_s")

#: Queries that may not be None: without them there is no rate, utilisation or replica count.
_REQUIRED_QUERIES = (
    "request_rate_rps",
    "cpu_usage_cores",
    "cpu_requests_cores",
    "ready_replicas",
    "desired_replicas",
)


@dataclass(frozen=True)
class MetricQueries:
    """One PromQL expression per signal. ``$namespace``, ``$deployment`` and ``$window`` are
    substituted (``string.Template``, so PromQL's ``{}`` need no escaping). Optional signals
    may be ``None``: latency then reads NaN (unknown), backlog 0 (the live path cannot see a
    queue; ScalingSignals' convention). ``cpu_utilization``, when set, replaces
    ``cpu_usage_cores / cpu_requests_cores``.

    The default ``window`` of 1m is four scrapes at Prometheus' usual 15 s interval (rate()
    needs at least two samples; the Prometheus docs recommend a range of at least four
    scrape intervals); tests scraping every 1 s use a few seconds.
    """

    request_rate_rps: str = (
        'sum(rate(http_requests_total{namespace="$namespace",service="$deployment"}[$window]))'
    )
    cpu_usage_cores: str = (
        "sum(rate(container_cpu_usage_seconds_total"
        '{namespace="$namespace",pod=~"$deployment-.*",container!="",container!="POD"}[$window]))'
    )
    # CPU requested by *ready* pods only: utilisation "over ready pods" as the HPA computes it.
    cpu_requests_cores: str = (
        'sum(kube_pod_container_resource_requests{namespace="$namespace",pod=~"$deployment-.*",'
        'resource="cpu",unit="core"} * on(namespace, pod) group_left() '
        'kube_pod_status_ready{namespace="$namespace",pod=~"$deployment-.*",condition="true"})'
    )
    cpu_utilization: str | None = None
    latency_p95_s: str | None = (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{namespace="$namespace",service="$deployment"}[$window])))'
    )
    ready_replicas: str = (
        'sum(kube_deployment_status_replicas_ready{namespace="$namespace",deployment="$deployment"})'
    )
    desired_replicas: str = (
        'sum(kube_deployment_spec_replicas{namespace="$namespace",deployment="$deployment"})'
    )
    pending_replicas: str | None = (
        'sum(kube_pod_status_ready{namespace="$namespace",pod=~"$deployment-.*",condition="false"}) or vector(0)'
    )
    dropped_rps: str | None = (
        'sum(rate(http_requests_dropped_total{namespace="$namespace",service="$deployment"}[$window]))'
    )
    backlog_requests: str | None = None
    #: share of requests over the latency SLO or dropped (core.slo_budget): requests minus those
    #: in the SLO's bucket, plus drops, over requests. ``$slo_latency`` is the SLO in seconds and
    #: must be a bucket bound of the histogram, written as the exporter writes ``le``.
    slo_violation_fraction: str | None = (
        "(sum(rate(http_request_duration_seconds_count"
        '{namespace="$namespace",service="$deployment"}[$window])) - '
        "sum(rate(http_request_duration_seconds_bucket"
        '{namespace="$namespace",service="$deployment",le="$slo_latency"}[$window])) + '
        "(sum(rate(http_requests_dropped_total"
        '{namespace="$namespace",service="$deployment"}[$window])) or vector(0))) / '
        'sum(rate(http_requests_total{namespace="$namespace",service="$deployment"}[$window]))'
    )
    freshness_s: str | None = (
        'time() - max(timestamp(kube_deployment_spec_replicas{namespace="$namespace",deployment="$deployment"}))'
    )
    window: str = "1m"

    def __post_init__(self) -> None:
        check_query_templates(self, _REQUIRED_QUERIES)

    def render(
        self, signal: str, namespace: str, deployment: str, slo_latency_s: float | None = None
    ) -> str | None:
        """The query for ``signal`` with the target substituted (None when unconfigured)."""
        return render_query(getattr(self, signal), namespace, deployment, self.window, slo_latency_s)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<metric queries>") -> MetricQueries:
        """From a CR's ``spec.metrics`` or a JSON file: unknown keys are an error naming ``source``."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"{source}: unknown metric query field(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Every query MetricQueries can hold (its fields but ``window``), in declaration order.
_QUERY_NAMES: tuple[str, ...] = tuple(f.name for f in fields(MetricQueries) if f.name != "window")
#: Signals whose health is their query's result as read (cpu_utilization may be derived;
#: freshness_s only dates the others).
_DIRECT_SIGNALS = (
    "request_rate_rps",
    "latency_p95_s",
    "ready_replicas",
    "desired_replicas",
    "pending_replicas",
    "dropped_rps",
    "backlog_requests",
    "slo_violation_fraction",
)


@dataclass(frozen=True)
class SignalHealth:
    """Whether one signal is usable, and if not why (one of the reason constants above)."""

    ok: bool
    reason: str = OK
    detail: str = ""
    value: float = math.nan
    age_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SourceReading:
    """``signals`` (a batch of one; a bad signal is NaN) and ``health`` per signal name."""

    signals: ScalingSignals
    health: dict[str, SignalHealth] = field(default_factory=dict)
    queried_at_s: float = 0.0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.health.values())

    def unhealthy(self) -> dict[str, str]:
        """``{signal: reason}`` for every signal that is not usable."""
        return {name: h.reason for name, h in self.health.items() if not h.ok}


class PrometheusSource(PrometheusClient):
    """Reads :class:`ScalingSignals` for one Deployment from the Prometheus HTTP API.

    ``timeout_s`` bounds each HTTP request (and is passed to Prometheus as its query timeout);
    queries run in parallel so a slow Prometheus costs one timeout per read, not one per
    signal. ``staleness_s``: data older than this is ``stale``. ``clock`` gives ``time_s``
    (seconds since the source was made, by default).
    """

    def __init__(
        self,
        url: str,
        queries: MetricQueries | None = None,
        *,
        timeout_s: float = 2.0,
        staleness_s: float = 60.0,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        slo_latency_s: float | None = None,
    ) -> None:
        """``slo_latency_s``: the latency SLO the ``slo_violation_fraction`` query reads its
        bucket at (None: that signal is not measured)."""
        super().__init__(url, timeout_s=timeout_s, headers=headers)
        if not staleness_s > 0:
            raise ValueError(f"PrometheusSource: staleness_s must be > 0, got {staleness_s}")
        if slo_latency_s is not None and not (math.isfinite(slo_latency_s) and slo_latency_s > 0):
            raise ValueError(f"PrometheusSource: slo_latency_s must be > 0, got {slo_latency_s}")
        self.slo_latency_s = slo_latency_s
        self.queries = queries or MetricQueries()
        self.staleness_s = float(staleness_s)
        self.clock = clock
        self._t0 = clock()
        self._pool = ThreadPoolExecutor(max_workers=10, thread_name_prefix="prometheus-query")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def history(
        self,
        namespace: str,
        deployment: str,
        signal: str,
        duration_s: float,
        step_s: float,
        end_s: float | None = None,
    ) -> list[tuple[float, float]]:
        """A signal over ``[end − duration, end]`` (``end``: now), e.g. to warm up the
        observation builder's load history after a restart. Asked in pieces of at most
        :data:`PROMETHEUS_MAX_POINTS` samples (4 h at a 1-s period is 14 400); pieces with no
        data (before the Deployment existed) are skipped, all empty raises ``EMPTY``."""
        validate_name("namespace", namespace)
        validate_name("deployment", deployment)
        expr = self.queries.render(signal, namespace, deployment)
        if expr is None:
            raise PrometheusError(UNCONFIGURED, f"no query for {signal}")
        end = time.time() if end_s is None else end_s
        if not (duration_s >= 0 and step_s > 0):
            raise ValueError(f"history: need duration >= 0 and step > 0, got {duration_s}, {step_s}")
        return self.query_range_pieces(expr, end - duration_s, end, step_s)

    # -- the reading ------------------------------------------------------------------
    def _measure(self, expr: str | None) -> SignalHealth:
        if expr is None:
            return SignalHealth(ok=False, reason=UNCONFIGURED)
        try:
            value = self.query(expr)
        except PrometheusError as exc:
            return SignalHealth(ok=False, reason=exc.reason, detail=exc.detail)
        if math.isnan(value):
            return SignalHealth(ok=False, reason=NAN, detail=expr, value=value)
        if math.isinf(value):
            return SignalHealth(ok=False, reason=INF, detail=expr, value=value)
        return SignalHealth(ok=True, value=value)

    def read(self, namespace: str, deployment: str) -> SourceReading:
        """All signals for ``namespace/deployment`` now. Bad names raise ValueError; every
        metric fault is reported in ``health`` instead of raised."""
        validate_name("namespace", namespace)
        validate_name("deployment", deployment)
        started = self.clock()
        q = self.queries
        slo = self.slo_latency_s
        exprs = {
            name: None
            if name == "slo_violation_fraction" and slo is None
            else q.render(name, namespace, deployment, slo)
            for name in _QUERY_NAMES
        }
        if q.cpu_utilization is not None:
            exprs["cpu_usage_cores"] = exprs["cpu_requests_cores"] = None
        futures = {
            name: self._pool.submit(self._measure, expr) for name, expr in exprs.items() if expr is not None
        }
        raw = {
            name: futures[name].result() if name in futures else SignalHealth(ok=False, reason=UNCONFIGURED)
            for name in _QUERY_NAMES
        }
        health = {name: raw[name] for name in _DIRECT_SIGNALS}
        if q.cpu_utilization is not None:
            health["cpu_utilization"] = raw["cpu_utilization"]
        else:
            usage, requests = raw["cpu_usage_cores"], raw["cpu_requests_cores"]
            if not usage.ok:
                health["cpu_utilization"] = usage
            elif not requests.ok:
                health["cpu_utilization"] = requests
            elif requests.value <= 0:
                health["cpu_utilization"] = SignalHealth(
                    ok=False, reason=NAN, detail="no CPU requested by ready pods (usage / 0)"
                )
            else:
                health["cpu_utilization"] = SignalHealth(ok=True, value=usage.value / requests.value)
        if q.backlog_requests is None:
            # ScalingSignals: backlog is 0 where the live path cannot see it.
            health["backlog_requests"] = SignalHealth(ok=True, reason=UNCONFIGURED, value=0.0)

        # staleness applies to every signal that read fine
        fresh = raw["freshness_s"]
        if q.freshness_s is not None:
            stale_reason: SignalHealth | None = None
            if fresh.ok and fresh.value > self.staleness_s:
                stale_reason = SignalHealth(
                    ok=False,
                    reason=STALE,
                    detail=f"newest sample is {fresh.value:.1f} s old (> {self.staleness_s} s)",
                    age_s=fresh.value,
                )
            elif not fresh.ok and fresh.reason == EMPTY:
                stale_reason = SignalHealth(
                    ok=False, reason=STALE, detail="no recent sample of the target (freshness query empty)"
                )
            if stale_reason is not None:
                for name, h in list(health.items()):
                    if h.ok and h.reason != UNCONFIGURED:
                        health[name] = SignalHealth(
                            ok=False,
                            reason=STALE,
                            detail=stale_reason.detail,
                            value=h.value,
                            age_s=stale_reason.age_s,
                        )
            elif fresh.ok:
                health = {
                    n: (SignalHealth(h.ok, h.reason, h.detail, h.value, fresh.value) if h.ok else h)
                    for n, h in health.items()
                }
        if q.latency_p95_s is None:
            health["latency_p95_s"] = SignalHealth(ok=False, reason=UNCONFIGURED)
        if exprs["slo_violation_fraction"] is None:  # not measured: the budget feedback holds its margin
            health["slo_violation_fraction"] = SignalHealth(ok=True, reason=UNCONFIGURED, value=math.nan)

        values = {name: (h.value if h.ok else math.nan) for name, h in health.items()}
        time_s = self.clock() - self._t0
        signals = ScalingSignals.single(time_s=time_s, **{name: values[name] for name in SIGNALS})
        return SourceReading(
            signals=signals, health=health, queried_at_s=started, duration_s=self.clock() - started
        )


def reading_to_dict(reading: SourceReading) -> dict[str, Any]:
    """JSON-ready form of a reading (decision logs)."""
    return {
        "signals": {
            name: float(np.asarray(getattr(reading.signals, name))[0])
            for name in ScalingSignals.field_names()
        },
        "health": {name: h.to_dict() for name, h in reading.health.items()},
        "duration_s": reading.duration_s,
    }
