"""Open-loop trace replay against any HTTP endpoint, with locust as a library.

Why open loop: a closed-loop generator (N users, each waiting for its response) sends
*less* load exactly when the service is slow, hiding the overload an autoscaler must see.
Here arrivals follow the trace and nothing else: one pacing user fires each request in its
own greenlet at the instant the trace's cumulative arrival curve says it is due, so a slow
response never delays the next arrival. A :class:`locust.LoadTestShape` keeps that user
alive for the replay's duration and ends the test.

Time: ``speedup`` compresses the trace's *timeline* and keeps its *rates* (a day of
diurnal load replays in 24 h / speedup at the same req/s, which is what an autoscaling demo
wants); ``rate_scale`` multiplies the rates; ``max_rps`` caps them.

locust monkey-patches the process with gevent on import, so :func:`run_loadgen` must run
in a process of its own: :func:`run_loadgen_subprocess` (what ``rlscale loadgen`` and the
tests use) starts a child Python that imports locust first and reads its JSON report.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from rlscale.core.atomic_file import write_text_atomic
from rlscale.core.settings import ConfigError, setting

#: Quantiles reported for latency.
LATENCY_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
#: Longest the pacer sleeps between checks of the arrival curve, seconds (bounds how late
#: a rate change is noticed).
_PACER_MAX_SLEEP_S = 0.02


class LoadgenError(ValueError):
    """Bad load-generator input; the message names the option."""


@dataclass(frozen=True)
class LoadgenConfig:
    """What to replay, where, and how fast; ``rlscale loadgen``'s options are generated from its
    settings. A bad value raises :class:`LoadgenError` naming every flag at fault."""

    trace: str = setting(
        flags=("--trace",),
        help="Trace to replay: a name (nasa, twitter, ...), 'synthetic:<kind>?k=v' or a CSV path.",
    )
    url: str = setting(
        flags=("--url",), help="Endpoint to send GET requests to, e.g. http://127.0.0.1:8080/work."
    )
    speedup: float = setting(
        1.0,
        flags=("--speedup",),
        help="Replay the trace's timeline this many times faster (rates unchanged).",
    )
    duration_s: float | None = setting(
        None,
        flags=("--duration",),
        help="Stop after this many seconds (default: the whole, compressed trace).",
    )
    max_rps: float | None = setting(None, flags=("--max-rps",), help="Cap the offered rate, requests/s.")
    rate_scale: float = setting(
        1.0, flags=("--rate-scale",), help="Multiply the trace's rates by this factor."
    )
    offset_s: float = setting(0.0, flags=("--offset",), help="Start this many trace seconds into the trace.")
    arrivals: str = setting(
        "poisson",
        flags=("--arrivals",),
        help="'poisson' (random arrivals at the trace's rate) or 'uniform' (evenly spaced).",
    )
    seed: int = setting(0, flags=("--seed",), help="Seed of the Poisson arrival times, >= 0.")
    max_inflight: int = setting(
        1000,
        flags=("--max-inflight",),
        help="Most outstanding requests; arrivals beyond it are counted as skipped.",
    )
    timeout_s: float = setting(10.0, flags=("--timeout",), help="Per-request timeout, seconds.")

    def __post_init__(self) -> None:
        problems = []
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{{url}} must be an http(s) URL with a host, got {self.url!r}")
        for name in ("speedup", "rate_scale", "timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{{{name}}} must be > 0, got {value}")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            problems.append(f"{{duration_s}} must be > 0 seconds, got {self.duration_s}")
        if self.max_rps is not None and not (math.isfinite(self.max_rps) and self.max_rps > 0):
            problems.append(f"{{max_rps}} must be > 0, got {self.max_rps}")
        if not (math.isfinite(self.offset_s) and self.offset_s >= 0):
            problems.append(f"{{offset_s}} must be >= 0 seconds, got {self.offset_s}")
        if self.arrivals not in ("poisson", "uniform"):
            problems.append(f"{{arrivals}} must be 'poisson' or 'uniform', got {self.arrivals!r}")
        if self.seed < 0:
            problems.append(f"{{seed}} must be >= 0, got {self.seed}")
        if self.max_inflight < 1:
            problems.append(f"{{max_inflight}} must be >= 1, got {self.max_inflight}")
        if problems:
            raise LoadgenError(str(ConfigError(type(self), problems)))


class RateSchedule:
    """The trace's rate as a function of wall-clock seconds since the start, and its
    integral (expected arrivals), which the pacer inverts to time each request."""

    def __init__(
        self,
        rate_rps: np.ndarray,
        interval_s: float,
        *,
        speedup: float = 1.0,
        rate_scale: float = 1.0,
        max_rps: float | None = None,
        duration_s: float | None = None,
        offset_s: float = 0.0,
    ) -> None:
        rates = np.asarray(rate_rps, dtype=np.float64) * rate_scale
        if rates.ndim != 1 or rates.size == 0:
            raise LoadgenError("trace has no steps")
        if not np.all(np.isfinite(rates)) or rates.min() < 0:
            raise LoadgenError("trace rates must be finite and >= 0")
        if max_rps is not None:
            rates = np.minimum(rates, max_rps)
        first = int(offset_s // interval_s)
        if first >= rates.size:
            raise LoadgenError(
                f"--offset {offset_s} s is past the end of the trace ({rates.size * interval_s} s)"
            )
        self.rate_rps = rates[first:]
        self.step_wall_s = interval_s / speedup  # wall seconds per trace step
        full_s = self.rate_rps.size * self.step_wall_s
        self.duration_s = full_s if duration_s is None else float(duration_s)
        # cumulative arrivals at each step edge; beyond the trace the last rate holds
        self._edges_count = np.concatenate([[0.0], np.cumsum(self.rate_rps * self.step_wall_s)])

    def _index(self, wall_s: float) -> int:
        return min(max(int(wall_s // self.step_wall_s), 0), self.rate_rps.size - 1)

    def rate_at(self, wall_s: float) -> float:
        """Requests/s due at ``wall_s`` seconds after the start."""
        return float(self.rate_rps[self._index(wall_s)])

    def expected_arrivals(self, wall_s: float) -> float:
        """Requests due in ``[0, wall_s]`` (capped at the duration)."""
        t = min(max(wall_s, 0.0), self.duration_s)
        i = self._index(t)
        return float(self._edges_count[i] + self.rate_rps[i] * (t - i * self.step_wall_s))

    @property
    def expected_total(self) -> float:
        return self.expected_arrivals(self.duration_s)


def schedule_from_config(config: LoadgenConfig) -> tuple[RateSchedule, str]:
    """Load the trace named in ``config`` and build its schedule (and the trace's label)."""
    from rlscale.workload import TraceError, get_trace

    try:
        trace = get_trace(config.trace)
    except (TraceError, OSError) as exc:
        raise LoadgenError(f"--trace {config.trace!r}: {exc}") from None
    rates = np.where(trace.valid, trace.rate_rps, 0.0)  # gaps replay as silence
    schedule = RateSchedule(
        rates,
        trace.interval_s,
        speedup=config.speedup,
        rate_scale=config.rate_scale,
        max_rps=config.max_rps,
        duration_s=config.duration_s,
        offset_s=config.offset_s,
    )
    return schedule, trace.name


@dataclass
class LoadgenReport:
    """What was sent and how the endpoint answered. Latencies are measured client-side
    from request start to the last response byte."""

    url: str
    trace: str
    duration_s: float
    expected_requests: float
    requests: int
    failures: int
    skipped_inflight_cap: int
    achieved_rps: float
    expected_rps: float
    latency_s: dict[str, float] = field(default_factory=dict)
    per_second_sent: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadgenReport:
        return cls(**data)


def _latency_summary(latencies_s: list[float]) -> dict[str, float]:
    if not latencies_s:
        return {}
    arr = np.asarray(latencies_s, dtype=np.float64)
    out = {f"p{round(q * 100)}": float(np.quantile(arr, q)) for q in LATENCY_QUANTILES}
    out["mean"] = float(arr.mean())
    out["max"] = float(arr.max())
    return out


def run_loadgen(config: LoadgenConfig) -> LoadgenReport:
    """Replay the trace now, in this process (which locust monkey-patches with gevent:
    call it from a process of its own, e.g. via :func:`run_loadgen_subprocess`)."""
    schedule, trace_name = schedule_from_config(config)

    import gevent
    import gevent.event
    from locust import FastHttpUser, LoadTestShape, constant, task
    from locust.env import Environment

    parts = urlsplit(config.url)
    host = f"{parts.scheme}://{parts.netloc}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    rng = np.random.default_rng(config.seed)
    latencies_s: list[float] = []
    sent_at_s: list[float] = []
    counters = {"failures": 0, "skipped": 0, "inflight": 0}
    start: dict[str, float] = {}
    done = gevent.event.Event()

    class TraceShape(LoadTestShape):
        """The trace's timeline: one pacing user (which reads the rate from here) until the
        replay and its last responses are done, then stop."""

        def rate_at(self, wall_s: float) -> float:
            return schedule.rate_at(wall_s)

        def tick(self) -> tuple[int, float] | None:
            return None if done.is_set() else (1, 1.0)

    class Pacer(FastHttpUser):
        wait_time = constant(0)
        concurrency = config.max_inflight
        network_timeout = config.timeout_s
        connection_timeout = config.timeout_s

        def _one(self) -> None:
            counters["inflight"] += 1
            t0 = time.perf_counter()
            try:
                with self.client.get(path, name=path, catch_response=True) as response:
                    if response.status_code >= 400 or response.status_code == 0:
                        counters["failures"] += 1
                        response.failure(f"HTTP {response.status_code}")
                    else:
                        response.success()
            except Exception:
                counters["failures"] += 1
            finally:
                latencies_s.append(time.perf_counter() - t0)
                counters["inflight"] -= 1

        @task
        def pace(self) -> None:
            t0 = start.setdefault("t0", time.perf_counter())
            if config.arrivals == "uniform":
                next_due = 0.5  # fire the k-th request when k - 0.5 are due
            else:
                next_due = float(rng.exponential())
            greenlets = []
            while True:
                now_s = time.perf_counter() - t0
                if now_s >= schedule.duration_s:
                    break
                due = schedule.expected_arrivals(now_s)
                while due >= next_due:
                    if counters["inflight"] >= config.max_inflight:
                        counters["skipped"] += 1
                    else:
                        sent_at_s.append(now_s)
                        greenlets.append(gevent.spawn(self._one))
                    next_due += 1.0 if config.arrivals == "uniform" else float(rng.exponential())
                rate = self.environment.shape_class.rate_at(now_s)
                wait_s = (next_due - due) / rate if rate > 0 else _PACER_MAX_SLEEP_S
                gevent.sleep(min(max(wait_s, 0.0), _PACER_MAX_SLEEP_S))
            gevent.joinall(greenlets, timeout=config.timeout_s)
            start["end"] = time.perf_counter() - t0
            done.set()
            gevent.sleep(3600)  # the runner stops this user

    env = Environment(user_classes=[Pacer], shape_class=TraceShape(), host=host)
    runner = env.create_local_runner()
    runner.start_shape()
    done.wait(timeout=schedule.duration_s + config.timeout_s + 10.0)
    runner.quit()
    duration_s = start.get("end", schedule.duration_s)
    seconds = math.ceil(schedule.duration_s)
    per_second = (
        np.bincount(np.asarray(sent_at_s, dtype=np.int64), minlength=seconds)[:seconds] if sent_at_s else []
    )
    sent = len(sent_at_s)
    return LoadgenReport(
        url=config.url,
        trace=trace_name,
        duration_s=float(schedule.duration_s),
        expected_requests=schedule.expected_total,
        requests=sent,
        failures=int(counters["failures"]),
        skipped_inflight_cap=int(counters["skipped"]),
        achieved_rps=sent / schedule.duration_s if schedule.duration_s > 0 else 0.0,
        expected_rps=schedule.expected_total / schedule.duration_s if schedule.duration_s > 0 else 0.0,
        latency_s={**_latency_summary(latencies_s), "wall_s": float(duration_s)},
        per_second_sent=[int(x) for x in per_second],
    )


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file next to ``path``, then rename (readers never see half a file)."""
    write_text_atomic(path, json.dumps(data, indent=2))


def run_loadgen_subprocess(config: LoadgenConfig, *, timeout_s: float | None = None) -> LoadgenReport:
    """Run :func:`run_loadgen` in a child Python (gevent stays out of this process)."""
    schedule_from_config(config)  # fail fast, here, on a bad trace
    with tempfile.TemporaryDirectory(prefix="rlscale-loadgen-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-c", _CHILD, json.dumps(asdict(config)), str(out)]
        limit_s = timeout_s
        if limit_s is None:
            duration_s = config.duration_s or schedule_from_config(config)[0].duration_s
            limit_s = duration_s + config.timeout_s + 60.0
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"load generator failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        return LoadgenReport.from_dict(json.loads(out.read_text()))


#: The child imports locust first so gevent patches the standard library before anything uses it.
_CHILD = "import locust, sys; from rlscale.loadgen.replay import _main; sys.exit(_main(sys.argv[1:]))"


def _main(argv: list[str]) -> int:
    """Child entry point: ``CONFIG_JSON REPORT_PATH`` (see :func:`run_loadgen_subprocess`)."""
    if len(argv) != 2:
        sys.stderr.write("usage: CONFIG_JSON REPORT_PATH\n")
        return 2
    config = LoadgenConfig(**json.loads(argv[0]))
    report = run_loadgen(config)
    write_json_atomic(Path(argv[1]), report.to_dict())
    return 0
