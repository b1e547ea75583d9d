"""PrometheusSource against a real Prometheus scraping the emulator, and against a tiny stub
for the faults Prometheus itself cannot be made to show (500, NaN, slow, bad JSON)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from rlscale.controller.metrics_source import NAN, STALE, MetricQueries, PrometheusSource
from rlscale.prometheus.client import (
    BAD_RESPONSE,
    CONNECTION_ERROR,
    EMPTY,
    HTTP_ERROR,
    MULTIPLE_SERIES,
    QUERY_ERROR,
    TIMEOUT,
)

#: Tests scrape every 1 s; a 5 s window holds ~5 samples.
TEST_QUERIES = MetricQueries(window="5s")


# -- a real Prometheus ------------------------------------------------------------------
@pytest.mark.prometheus
def test_reads_known_load_and_replicas(emulator: Any, prometheus: Any) -> None:
    # make sure the target is scraped and the rate window is full (at least 5 s of samples)
    prometheus.wait_for('up{job="emulator"}', lambda v: v == 1.0)
    prometheus.wait_for(
        'count_over_time(http_requests_total{service="web"}[10s])', lambda v: v >= 6, timeout_s=30
    )
    source = PrometheusSource(prometheus.url, TEST_QUERIES, timeout_s=2.0, staleness_s=10.0)
    reading = source.read("default", "web")
    offered_rps = emulator.snapshot()["default/web"]["offered_rps"]  # the emulator's ground truth
    assert offered_rps == 25.0
    sig = reading.signals
    assert reading.unhealthy() == {}, reading.health
    assert float(sig.request_rate_rps[0]) == pytest.approx(offered_rps, rel=0.15)
    assert float(sig.desired_replicas[0]) == 2.0
    assert float(sig.ready_replicas[0]) == 2.0
    assert float(sig.pending_replicas[0]) == 0.0
    # 2 pods x 10 req/s < 25 req/s offered: saturated, CPU near the limit, requests dropped or queued
    assert 0.8 < float(sig.cpu_utilization[0]) <= 1.05
    assert float(sig.latency_p95_s[0]) > 0.1
    assert float(sig.backlog_requests[0]) == 0.0  # not visible live
    assert (
        reading.health["request_rate_rps"].age_s is not None and reading.health["request_rate_rps"].age_s < 10
    )
    history = source.history("default", "web", "ready_replicas", duration_s=4.0, step_s=1.0)
    assert len(history) >= 3 and all(v == 2.0 for _, v in history)
    # Prometheus aligns range samples on the step grid, which the controller's warm-up relies on
    from rlscale.prometheus.client import samples_on_grid

    end = time.time()
    points = source.history("default", "web", "request_rate_rps", 4.0, 1.0, end_s=end)
    rates = samples_on_grid(points, end - 4.0, 1.0, 5)
    assert rates.size >= 3 and all(r > 0 for r in rates)  # no holes: every period has its sample
    assert rates[-1] == pytest.approx(offered_rps, rel=0.15)
    # the warm-up's 4 h at a 1-s period is 14,400 points, over Prometheus' 11,000 per query:
    # asked in pieces, the older piece (before any data) is empty and skipped
    long = source.history("default", "web", "ready_replicas", duration_s=4 * 3600.0, step_s=1.0)
    assert len(long) >= 3 and all(v == 2.0 for _, v in long)
    assert len({t for t, _ in long}) == len(long)  # no sample twice at a piece boundary
    source.close()


@pytest.mark.prometheus
def test_prometheus_faults(emulator_factory: Any, prometheus_factory: Any) -> None:
    emu = emulator_factory()
    prom = prometheus_factory(emu)
    prom.wait_for('count_over_time(http_requests_total{service="web"}[10s])', lambda v: v >= 3, timeout_s=30)
    source = PrometheusSource(prom.url, TEST_QUERIES, timeout_s=2.0, staleness_s=3.0)
    # an unknown deployment: every query is empty, the freshness probe too -> reported, not raised
    missing = source.read("default", "nope")
    assert missing.unhealthy()["request_rate_rps"] == EMPTY
    assert missing.unhealthy()["ready_replicas"] == EMPTY
    # a bad query is a named query error
    bad = PrometheusSource(
        prom.url, MetricQueries(window="5s", latency_p95_s="rate(http_requests_total[5s]) +")
    )
    assert bad.read("default", "web").unhealthy()["latency_p95_s"] == QUERY_ERROR
    # the scrape target disappears: staleness markers make the data empty / stale
    emu.stop()
    time.sleep(2.5)
    gone = source.read("default", "web").unhealthy()
    assert gone.get("ready_replicas") in (STALE, EMPTY), gone
    assert gone.get("request_rate_rps") in (STALE, EMPTY), gone
    # Prometheus itself stopped mid-run
    prom.stop()
    down = source.read("default", "web")
    assert set(down.unhealthy().values()) == {CONNECTION_ERROR}
    assert math.isnan(float(down.signals.request_rate_rps[0]))
    source.close()
    bad.close()


# -- a stub for the faults a real Prometheus does not produce on demand -------------------
class StubPrometheus:
    """Answers /api/v1/query by ``mode``: ok, nan, empty, multi, slow, http500, badjson, error."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.value = "5"
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        mode = self.mode
        if mode == "slow":
            await asyncio.sleep(1.0)
        if mode == "http500":
            return web.Response(status=500, text="internal error")
        if mode == "badjson":
            return web.Response(text="<html>proxy error</html>", content_type="text/html")
        if mode == "error":
            return web.json_response(
                {"status": "error", "errorType": "execution", "error": "boom"}, status=422
            )
        now = time.time()
        query = request.query.get("query", "")
        constant = re.fullmatch(r"vector\(([0-9.]+)\)", query)
        if constant:
            result = [{"metric": {}, "value": [now, constant.group(1)]}]
        elif "timestamp(" in query:
            result = [{"metric": {}, "value": [now, "0.5"]}]
        elif mode == "empty":
            result = []
        elif mode == "multi":
            result = [
                {"metric": {"pod": "a"}, "value": [now, "1"]},
                {"metric": {"pod": "b"}, "value": [now, "2"]},
            ]
        else:
            result = [{"metric": {}, "value": [now, "NaN" if mode == "nan" else self.value]}]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})

    def start(self) -> StubPrometheus:
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/api/v1/query", self.handle)
            runner = web.AppRunner(app)

            async def boot() -> None:
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                self.url = f"http://127.0.0.1:{port}"
                self._stop = asyncio.Event()

            loop.run_until_complete(boot())
            self._started.set()
            assert self._stop is not None
            loop.run_until_complete(self._stop.wait())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        threading.Thread(target=run, daemon=True).start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@pytest.fixture
def stub() -> Iterator[StubPrometheus]:
    server = StubPrometheus().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("nan", NAN),
        ("empty", EMPTY),
        ("multi", MULTIPLE_SERIES),
        ("http500", HTTP_ERROR),
        ("badjson", BAD_RESPONSE),
        ("error", QUERY_ERROR),
        ("slow", TIMEOUT),
    ],
)
def test_each_fault_has_a_named_reason(stub: StubPrometheus, mode: str, reason: str) -> None:
    source = PrometheusSource(stub.url, TEST_QUERIES, timeout_s=0.3, staleness_s=10.0)
    stub.mode = mode
    reading = source.read("default", "web")
    assert reading.unhealthy()["request_rate_rps"] == reason
    assert math.isnan(float(reading.signals.request_rate_rps[0]))
    stub.mode = "ok"  # and it recovers when the fault clears
    healthy = source.read("default", "web")
    assert healthy.unhealthy() == {}
    assert float(healthy.signals.request_rate_rps[0]) == 5.0
    assert float(healthy.signals.cpu_utilization[0]) == 1.0  # 5 cores used / 5 requested
    source.close()


def test_stale_data_is_reported(stub: StubPrometheus) -> None:
    source = PrometheusSource(
        stub.url, MetricQueries(window="5s", freshness_s="vector(120)"), staleness_s=60.0
    )
    reading = source.read("default", "web")
    assert reading.unhealthy()["request_rate_rps"] == STALE
    assert reading.health["request_rate_rps"].age_s == 120.0
    source.close()


def test_queries_are_validated_and_rendered() -> None:
    q = MetricQueries(window="30s")
    rendered = q.render("request_rate_rps", "shop", "web")
    assert rendered == 'sum(rate(http_requests_total{namespace="shop",service="web"}[30s]))'
    with pytest.raises(ValueError, match="window"):
        MetricQueries(window="5 minutes")
    with pytest.raises(ValueError, match=r"unknown placeholder.*\$pod"):
        MetricQueries(request_rate_rps='sum(rate(x{pod="$pod"}[1m]))')
    with pytest.raises(ValueError, match="required"):
        MetricQueries(ready_replicas=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unbalanced"):
        MetricQueries(dropped_rps="sum(rate(x[1m])")
    with pytest.raises(ValueError, match=r"spec\.metrics.*unknown"):
        MetricQueries.from_dict({"rate": "x"}, source="spec.metrics")
    assert MetricQueries.from_dict(q.to_dict()) == q
    source = PrometheusSource("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="DNS-1123"):
        source.read("default", 'web"} or vector(1) #')
    with pytest.raises(ValueError, match="url"):
        PrometheusSource("localhost:9090")
    source.close()


def test_custom_utilisation_query(stub: StubPrometheus) -> None:
    stub.value = "0.42"
    source = PrometheusSource(stub.url, MetricQueries(window="5s", cpu_utilization="vector(0.42)"))
    reading = source.read("default", "web")
    assert float(reading.signals.cpu_utilization[0]) == pytest.approx(0.42)
    assert json.dumps({k: v.to_dict() for k, v in reading.health.items()})
    source.close()
