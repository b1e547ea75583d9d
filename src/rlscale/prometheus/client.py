"""A small client of the Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``)
that names every way an answer can be wrong, shared by the live metrics source
(``controller.metrics_source``) and calibration (``calibration.history``), so both read
Prometheus with one set of timeouts, error reasons and resolution limits.

Standard library only (urllib): the live image stays small and needs no HTTP package.
"""

from __future__ import annotations

import json
import math
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# -- why a query failed (PrometheusError.reason; also a signal's health reason) ----------------
EMPTY = "empty"  # the query matched no series
TIMEOUT = "timeout"  # no answer within timeout_s (or Prometheus' own query timeout)
HTTP_ERROR = "http_error"  # 5xx/4xx from Prometheus
BAD_RESPONSE = "bad_response"  # not JSON, or not the Prometheus API shape
QUERY_ERROR = "query_error"  # Prometheus answered status=error (bad PromQL, evaluation error)
CONNECTION_ERROR = "connection_error"  # refused / reset: Prometheus is down
MULTIPLE_SERIES = "multiple_series"  # the expression must aggregate to one series

#: Most samples per series Prometheus returns from one range query (``maxPoints`` in
#: prometheus/web/api/v1/api.go: "exceeded maximum resolution of 11,000 points per timeseries").
PROMETHEUS_MAX_POINTS = 11_000

#: DNS-1123 subdomain (k8s.io/apimachinery validation): the only names pasted into PromQL.
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def validate_name(kind: str, value: str) -> None:
    """Refuse anything but a Kubernetes (DNS-1123) name: names are pasted into PromQL, so
    anything else could alter the query."""
    if not _DNS1123.match(value) or len(value) > 253:
        raise ValueError(
            f"{kind} {value!r} is not a valid Kubernetes name (DNS-1123: lower-case a-z, 0-9, '-', '.')"
        )


def samples_on_grid(
    points: Sequence[tuple[float, float]], start_s: float, step_s: float, n: int
) -> np.ndarray:
    """Range-query samples as ``n`` values at ``start + k·step`` (Prometheus aligns them so),
    NaN where Prometheus had no sample; samples off the grid's span are dropped."""
    out = np.full(n, np.nan)
    for t, v in points:
        i = round((t - start_s) / step_s)
        if 0 <= i < n:
            out[i] = v
    return out


class PrometheusError(Exception):
    """A query failed; ``reason`` is one of the health reasons."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _validate_name(kind: str, value: str) -> None:
    # DNS-1123 names only: they are pasted into PromQL, so anything else could alter the query.
    if not _DNS1123.match(value) or len(value) > 253:
        raise ValueError(
            f"{kind} {value!r} is not a valid Kubernetes name (DNS-1123: lower-case a-z, 0-9, '-', '.')"
        )


class PrometheusClient:
    """The Prometheus HTTP API at ``url``. ``timeout_s`` bounds each request and is passed to
    Prometheus as its query timeout; ``headers`` are sent with every request (auth)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, headers: Mapping[str, str] | None = None) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"{type(self).__name__}: url must be http(s)://host[:port][/prefix], got {url!r}"
            )
        if not timeout_s > 0:
            raise ValueError(f"{type(self).__name__}: timeout_s must be > 0, got {timeout_s}")
        self.url = url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.headers = dict(headers or {})

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        query = dict(params)
        query.setdefault("timeout", f"{max(1, math.ceil(self.timeout_s * 1000))}ms")
        url = f"{self.url}{path}?{urllib.parse.urlencode(query)}"
        req = urllib.request.Request(url, headers={"Accept": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as rsp:
                raw = rsp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()[:300].decode(errors="replace")
            if exc.code in (400, 422):  # Prometheus: bad query / cannot execute, body has the error
                try:
                    message = json.loads(body).get("error", body)
                except ValueError:
                    message = body
                raise PrometheusError(QUERY_ERROR, f"HTTP {exc.code}: {message}") from None
            if exc.code == 503 and "timeout" in body.lower():
                raise PrometheusError(TIMEOUT, f"HTTP 503 (query timed out): {body}") from None
            raise PrometheusError(HTTP_ERROR, f"HTTP {exc.code}: {body}") from None
        except TimeoutError as exc:
            raise PrometheusError(TIMEOUT, f"no answer within {self.timeout_s} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise PrometheusError(TIMEOUT, f"no answer within {self.timeout_s} s") from exc
            raise PrometheusError(CONNECTION_ERROR, str(exc.reason)) from exc
        except (ConnectionError, OSError) as exc:
            raise PrometheusError(CONNECTION_ERROR, str(exc)) from exc
        try:
            body = json.loads(raw)
        except ValueError:
            raise PrometheusError(BAD_RESPONSE, f"not JSON: {raw[:120]!r}") from None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            raise PrometheusError(BAD_RESPONSE, f"not a Prometheus API response: {str(body)[:120]}")
        if body["status"] == "error":
            reason = TIMEOUT if body.get("errorType") == "timeout" else QUERY_ERROR
            raise PrometheusError(reason, f"{body.get('errorType')}: {body.get('error')}")
        data = body.get("data")
        if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
            raise PrometheusError(BAD_RESPONSE, f"response has no data.resultType/result: {str(body)[:120]}")
        return data

    def query(self, expr: str) -> float:
        """Instant query of an expression that must give one number (a scalar or a vector of
        one series). Raises :class:`PrometheusError` with a reason otherwise."""
        data = self._get("/api/v1/query", {"query": expr})
        kind, result = data["resultType"], data["result"]
        try:
            if kind == "scalar":
                value = float(result[1])
            elif kind == "vector":
                if len(result) == 0:
                    raise PrometheusError(EMPTY, f"no series for {expr}")
                if len(result) > 1:
                    labels = [r.get("metric", {}) for r in result[:3]]
                    raise PrometheusError(
                        MULTIPLE_SERIES, f"{len(result)} series (aggregate the query): {labels}"
                    )
                value = float(result[0]["value"][1])
            else:
                raise PrometheusError(BAD_RESPONSE, f"expected a vector or scalar, got {kind}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise PrometheusError(BAD_RESPONSE, f"malformed sample in {str(result)[:120]}") from exc
        return value

    def query_range(
        self, expr: str, start_s: float, end_s: float, step_s: float
    ) -> list[tuple[float, float]]:
        """Range query (unix seconds) of a one-series expression: ``[(t, value), ...]``."""
        if not (end_s >= start_s and step_s > 0):
            raise ValueError(f"query_range: need end >= start and step > 0, got {start_s}, {end_s}, {step_s}")
        data = self._get(
            "/api/v1/query_range",
            {"query": expr, "start": repr(start_s), "end": repr(end_s), "step": repr(step_s)},
        )
        if data["resultType"] != "matrix":
            raise PrometheusError(BAD_RESPONSE, f"expected a matrix, got {data['resultType']}")
        result = data["result"]
        if not result:
            raise PrometheusError(EMPTY, f"no series for {expr}")
        if len(result) > 1:
            raise PrometheusError(MULTIPLE_SERIES, f"{len(result)} series (aggregate the query)")
        try:
            return [(float(t), float(v)) for t, v in result[0]["values"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise PrometheusError(BAD_RESPONSE, "malformed matrix") from exc

    def query_range_pieces(
        self, expr: str, start_s: float, end_s: float, step_s: float
    ) -> list[tuple[float, float]]:
        """:meth:`query_range` over any span, asked in pieces of at most
        :data:`PROMETHEUS_MAX_POINTS` samples on one step grid; pieces with no data are
        skipped, all empty raises ``EMPTY``."""
        span_s = (PROMETHEUS_MAX_POINTS - 1) * step_s
        samples: list[tuple[float, float]] = []
        empty: PrometheusError | None = None
        start = start_s
        while start <= end_s:
            stop = min(start + span_s, end_s)
            try:
                samples += self.query_range(expr, start, stop, step_s)
            except PrometheusError as exc:
                if exc.reason != EMPTY:
                    raise
                empty = exc
            start = stop + step_s  # the next piece starts on the same step grid
        if not samples and empty is not None:
            raise empty
        return samples
