"""``rlscale loadgen``: the arrival schedule, and open-loop replays against a local server."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from rlscale.loadgen.replay import (
    LoadgenConfig,
    LoadgenError,
    RateSchedule,
    run_loadgen_subprocess,
    schedule_from_config,
)

# never import locust here: it monkey-patches this (pytest's) process with gevent
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed (the live extra)", allow_module_level=True)


class _Server:
    def __init__(self, delay_s: float) -> None:
        self.count = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.count += 1
                time.sleep(delay_s)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/work"

    def __enter__(self) -> _Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_server() -> Iterator[_Server]:
    with _Server(delay_s=0.25) as server:
        yield server


RAMP = "synthetic:ramp?steps=4&step_s=1&low_rps=20&high_rps=80&noise=0"  # 20, 40, 60, 80 req/s


def test_schedule_integrates_the_trace_and_compresses_time() -> None:
    schedule = RateSchedule(np.array([10.0, 30.0, 0.0, 50.0]), 60.0, speedup=60.0)  # 1 s per step
    assert schedule.duration_s == pytest.approx(4.0)
    assert schedule.rate_at(0.5) == 10.0 and schedule.rate_at(1.5) == 30.0  # rates unchanged
    assert schedule.expected_arrivals(1.0) == pytest.approx(10.0)
    assert schedule.expected_arrivals(1.5) == pytest.approx(25.0)
    assert schedule.expected_arrivals(3.0) == pytest.approx(40.0)  # silent step adds nothing
    assert schedule.expected_total == pytest.approx(90.0)
    capped = RateSchedule(np.array([10.0, 30.0]), 1.0, max_rps=20.0, rate_scale=2.0, duration_s=1.5)
    assert capped.rate_at(0.2) == 20.0 and capped.expected_total == pytest.approx(30.0)
    shifted = RateSchedule(np.array([10.0, 30.0, 50.0]), 1.0, offset_s=1.0)
    assert shifted.rate_at(0.0) == 30.0 and shifted.duration_s == pytest.approx(2.0)


def test_bad_options_are_named() -> None:
    with pytest.raises(LoadgenError, match="--url"):
        LoadgenConfig(trace=RAMP, url="localhost:8080")
    with pytest.raises(LoadgenError, match="--speedup"):
        LoadgenConfig(trace=RAMP, url="http://127.0.0.1:1/", speedup=0.0)
    with pytest.raises(LoadgenError, match="--arrivals"):
        LoadgenConfig(trace=RAMP, url="http://127.0.0.1:1/", arrivals="burst")
    with pytest.raises(LoadgenError, match="--trace"):
        schedule_from_config(LoadgenConfig(trace="no-such-trace", url="http://127.0.0.1:1/"))
    with pytest.raises(LoadgenError, match="--offset"):
        schedule_from_config(LoadgenConfig(trace=RAMP, url="http://127.0.0.1:1/", offset_s=100.0))


def test_replay_is_open_loop_and_matches_the_trace(slow_server: _Server) -> None:
    """Every response takes 0.25 s: a closed-loop user would send ~16 requests in 4 s; the
    open-loop replay sends the trace's 200, spread 20/40/60/80 over the four seconds."""
    config = LoadgenConfig(trace=RAMP, url=slow_server.url, arrivals="uniform")
    report = run_loadgen_subprocess(config)
    assert report.expected_requests == pytest.approx(200.0)
    assert report.requests == 200
    assert slow_server.count == pytest.approx(200, abs=2)
    assert report.failures == 0 and report.skipped_inflight_cap == 0
    assert report.achieved_rps == pytest.approx(50.0, rel=0.02)
    per_second = report.per_second_sent
    assert len(per_second) == 4
    assert [abs(a - b) <= 2 for a, b in zip(per_second, [20, 40, 60, 80], strict=True)] == [True] * 4
    assert report.latency_s["p50"] >= 0.25  # measured, not assumed
    assert (
        report.latency_s["p50"]
        <= report.latency_s["p95"]
        <= report.latency_s["p99"]
        <= report.latency_s["max"]
    )


def test_cli_poisson_replay_with_rate_cap(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from rlscale.cli.loadgen import register

    app = typer.Typer()
    register(app)
    app.command(name="noop")(lambda: None)  # a second command keeps typer's subcommand routing
    with _Server(delay_s=0.0) as server:
        out = tmp_path / "report.json"
        result = CliRunner().invoke(
            app,
            [
                "loadgen",
                "--trace",
                RAMP,
                "--url",
                server.url,
                "--max-rps",
                "50",
                "--seed",
                "3",
                "--json",
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        # capped trace: 20 + 40 + 50 + 50 = 160 expected; Poisson count within 5 sigma
        assert report["expected_requests"] == pytest.approx(160.0)
        assert abs(report["requests"] - 160) <= 5 * np.sqrt(160)
        assert server.count == pytest.approx(report["requests"], abs=2)
        assert json.loads(result.output)["requests"] == report["requests"]
