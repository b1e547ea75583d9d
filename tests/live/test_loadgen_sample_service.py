"""The sample service (examples/sample_service/app.py) under the load generator: what it
exports is what was sent, and CPU time per request is what was configured."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlscale.loadgen.replay import LoadgenConfig, run_loadgen_subprocess

# never import locust here: it monkey-patches this (pytest's) process with gevent
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed (the live extra)", allow_module_level=True)

APP = Path(__file__).resolve().parents[2] / "examples" / "sample_service" / "app.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sample_service() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "SAMPLE_CPU_MS": "5"}
    proc = subprocess.Popen(
        [sys.executable, str(APP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as rsp:
                    if rsp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sample service did not start: {proc.stdout.read() if proc.stdout else ''}"
                )
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, flags=re.MULTILINE)
    assert match, f"{name}{labels} not exported"
    return float(match.group(1))


def test_sample_service_counts_what_the_load_generator_sent(sample_service: str) -> None:
    trace = "synthetic:ramp?steps=3&step_s=1&low_rps=10&high_rps=30&noise=0"  # 10, 20, 30 req/s
    report = run_loadgen_subprocess(
        LoadgenConfig(trace=trace, url=f"{sample_service}/work", arrivals="uniform")
    )
    assert report.requests == 60 and report.failures == 0
    text = urllib.request.urlopen(f"{sample_service}/metrics", timeout=5).read().decode()
    assert _metric(text, "http_requests_total", '{code="200",method="GET"}') == 60
    assert _metric(text, "http_request_duration_seconds_count") == 60
    # every request burned >= 5 ms of CPU, so the mean latency is at least that
    assert _metric(text, "http_request_duration_seconds_sum") >= 60 * 0.005
    assert report.latency_s["p50"] >= 0.005


def test_sample_service_rejects_bad_requests(sample_service: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{sample_service}/work?cpu_ms=-1", timeout=5)
    assert info.value.code == 400 and b"cpu_ms" in info.value.read()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{sample_service}/nope", timeout=5)
    assert info.value.code == 404
    text = urllib.request.urlopen(f"{sample_service}/metrics", timeout=5).read().decode()
    assert _metric(text, "http_requests_total", '{code="400",method="GET"}') == 1
