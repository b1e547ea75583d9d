"""A small CPU-bound HTTP service to try the rlscale loop on a real cluster.

Each ``GET /work`` burns ``SAMPLE_CPU_MS`` milliseconds of CPU (busy-looping on this
thread's CPU clock, so the cost is CPU time, not wall time: under contention requests queue
and latency rises, which is what an autoscaler must react to). One pod therefore serves at
most about ``cpu_limit_cores / (SAMPLE_CPU_MS / 1000)`` requests/s (the GIL makes one
process use at most one core).

It exports what the controller's default PromQL expects (rlscale.controller.metrics_source):
``http_requests_total{method,code}`` and an ``http_request_duration_seconds`` histogram on
``/metrics``; Prometheus adds ``namespace``/``service`` labels when it scrapes (see
docs/live.md). ``/healthz`` is the readiness probe.

Run: ``python app.py`` (env ``PORT`` default 8080, ``HOST`` default 127.0.0.1: loopback outside
a pod, the manifest sets 0.0.0.0; ``SAMPLE_CPU_MS`` default 50), or
``?cpu_ms=N`` per request.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

#: Latency buckets, seconds: fine around typical SLOs (50 ms - 1 s), coarse beyond.
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
MAX_CPU_MS = 10_000.0

REGISTRY = CollectorRegistry()
REQUESTS = Counter("http_requests", "HTTP requests served.", ["method", "code"], registry=REGISTRY)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request read to response sent.",
    buckets=BUCKETS_S,
    registry=REGISTRY,
)


def burn_cpu(cpu_s: float) -> None:
    """Spin until this thread has used ``cpu_s`` seconds of CPU."""
    end = time.thread_time() + cpu_s
    x = 0
    while time.thread_time() < end:
        for i in range(1000):
            x += i * i


def make_handler(default_cpu_ms: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                return
            if url.path == "/healthz":
                self._send(200, b"ok\n")
                return
            if url.path != "/work":
                self._send(404, b"not found: try /work, /metrics, /healthz\n")
                return
            started = time.perf_counter()
            code = 200
            try:
                values = parse_qs(url.query).get("cpu_ms")
                cpu_ms = float(values[0]) if values else default_cpu_ms
                if not 0 <= cpu_ms <= MAX_CPU_MS:
                    raise ValueError(f"cpu_ms must be in [0, {MAX_CPU_MS:g}], got {cpu_ms}")
            except ValueError as exc:
                code = 400
                self._send(code, f"bad request: {exc}\n".encode())
            else:
                burn_cpu(cpu_ms / 1000.0)
                self._send(code, b"done\n")
            DURATION.observe(time.perf_counter() - started)
            REQUESTS.labels(method="GET", code=str(code)).inc()

        def log_message(self, format: str, *args: object) -> None:  # quiet: metrics tell the story
            pass

    return Handler


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    host = os.environ.get("HOST", "127.0.0.1")  # loopback outside a pod; the manifest sets 0.0.0.0
    try:
        cpu_ms = float(os.environ.get("SAMPLE_CPU_MS", "50"))
    except ValueError:
        sys.stderr.write(f"SAMPLE_CPU_MS must be a number, got {os.environ['SAMPLE_CPU_MS']!r}\n")
        return 2
    if not 0 <= cpu_ms <= MAX_CPU_MS:
        sys.stderr.write(f"SAMPLE_CPU_MS must be in [0, {MAX_CPU_MS:g}], got {cpu_ms}\n")
        return 2
    server = ThreadingHTTPServer((host, port), make_handler(cpu_ms))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # ends serve_forever in the main thread
    sys.stdout.write(f"sample service on {host}:{server.server_port}, {cpu_ms:g} ms CPU per request\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
