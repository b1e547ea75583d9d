"""``rlscale calibrate``: fit a preset from Prometheus history.

End to end: an emulated service with known parameters, a load that rises (two scale-ups
through the scale subresource), a real Prometheus scraping it, then calibration must
recover per-pod capacity, start-up delay and base latency within 10 %. Plus the estimators
on their own, and bad inputs with clear errors.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlscale.calibration import (
    CalibrationDataError,
    CalibrationQueries,
    History,
    calibrate_prometheus,
    fit_service,
    parse_duration_s,
    startup_lags,
)
from rlscale.cli.main import app
from rlscale.core.spec import ServiceSpec
from rlscale.sim import get_preset, load_service
from rlscale.sim.params import ServiceParams

# The live fixtures (emulator, Prometheus) live in tests/live/conftest.py; load them by path
# so this directory can use them without a shared package.
_spec = importlib.util.spec_from_file_location(
    "_rlscale_live_fixtures", Path(__file__).parents[1] / "live" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_live = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_live)
prometheus_binary = _live.prometheus_binary
prometheus_factory = _live.prometheus_factory

# -------------------------------------------------------------- the emulated service's truth
TRUE_CPU_LIMIT = 0.5
TRUE_IDLE = 0.05
TRUE_CPU_PER_REQUEST = 0.0225
TRUE_MU = (TRUE_CPU_LIMIT - TRUE_IDLE) / TRUE_CPU_PER_REQUEST  # 20 req/s
TRUE_STARTUP_S = 6.0
TRUE_BASE_LATENCY_S = 0.05


def true_params(name: str = "calib") -> ServiceParams:
    spec = ServiceSpec(
        name=name,
        pod_capacity_rps=TRUE_MU,
        slo_latency_s=0.5,
        min_replicas=1,
        max_replicas=8,
        step_s=1.0,
        startup_delay_s=TRUE_STARTUP_S,
        cpu_request_cores=TRUE_CPU_LIMIT,  # request = limit: Guaranteed QoS
        memory_request_gib=0.25,
    )
    return ServiceParams(
        spec=spec,
        base_latency_s=TRUE_BASE_LATENCY_S,
        startup_delay_min_s=TRUE_STARTUP_S,
        startup_delay_max_s=TRUE_STARTUP_S,
        cpu_per_request_core_s=TRUE_CPU_PER_REQUEST,
        cpu_limit_cores=TRUE_CPU_LIMIT,
        cpu_idle_cores=TRUE_IDLE,
        queue_bound_requests=1.0e4,
        request_timeout_s=5.0,
        metric_lag_steps=0,
        poisson_arrivals=False,
    )


#: (simulated time the phase starts, offered load req/s, replicas set at that time)
#: 1 pod at 30 % load; then 26 req/s saturates it while 2 more pods start; then 45 req/s on
#: 3 pods (75 %) while a 4th starts.
SCENARIO: tuple[tuple[float, float, int], ...] = ((0.0, 6.0, 1), (10.0, 26.0, 3), (24.0, 45.0, 4))
SCENARIO_END_S = 36.0


def scenario_load(t_s: float) -> float:
    rate = SCENARIO[0][1]
    for start, rps, _ in SCENARIO:
        if t_s >= start:
            rate = rps
    return rate


# ------------------------------------------------------------------------------ end to end
@pytest.mark.prometheus
def test_calibrate_recovers_emulated_service_within_10_percent(prometheus_factory, tmp_path: Path) -> None:
    from rlscale.controller.actuator import ScaleActuator
    from rlscale.emulator import EmulatedService, Emulator

    port = _live.free_port()
    # Prometheus first, so it scrapes the whole run (its start takes a few seconds).
    prom = prometheus_factory([f"127.0.0.1:{port}"], scrape_interval_s=0.5)
    emu = Emulator(
        [EmulatedService(name="calib", params=true_params(), load=scenario_load, initial_replicas=1)],
        metrics_port=port,
    ).start()
    try:
        started = time.time()
        actuator = ScaleActuator.from_config(
            emu.write_kubeconfig(tmp_path / "kubeconfig"), min_replicas=1, max_replicas=8
        )
        for start_s, _, replicas in SCENARIO[1:]:
            # Patch right after the emulator's step at start_s, as a scaler acting on a step would.
            while emu.cluster.sim_time_s < start_s:
                time.sleep(0.005)
            actuator.set_replicas("default", "calib", replicas)
        while emu.cluster.sim_time_s < SCENARIO_END_S:
            time.sleep(0.05)
        time.sleep(1.0)  # the last scrapes
        since = f"{time.time() - started + 2.0:.1f}s"
        cli = CliRunner().invoke(
            app,
            [
                "calibrate", "--prometheus", prom.url, "--namespace", "default", "--deployment", "calib",
                "--since", since, "--step", "0.5s", "--window", "2s", "--base", "web",
                "--out", str(tmp_path / "preset.json"), "--report", str(tmp_path / "fit.json"),
            ],
        )  # fmt: skip
        assert cli.exit_code == 0, cli.output
        assert "pod_capacity_rps" in cli.output and "no CPU limit exported" in cli.output
        # The library call gives the same fit (the history is the same, end time aside).
        result = calibrate_prometheus(
            prom.url, "default", "calib", since_s=parse_duration_s(since), step_s=0.5, window="2s"
        )
        # A deployment Prometheus has never seen: the error names the signal and the query.
        bad = CliRunner().invoke(
            app,
            ["calibrate", "--prometheus", prom.url, "--namespace", "default", "--deployment", "nosuch",
             "--since", "30s", "--step", "1s", "--window", "2s", "--out", str(tmp_path / "x.json")],
        )  # fmt: skip
        assert bad.exit_code == 2
        assert "signal served_rps: the query returned no data" in bad.output and "nosuch" in bad.output
        assert not (tmp_path / "x.json").exists()
    finally:
        emu.stop()

    def rel(name: str, truth: float) -> float:
        return abs(result.parameter(name).value / truth - 1.0)

    report = {p.name: round(p.value, 5) for p in result.parameters}
    written = json.loads((tmp_path / "fit.json").read_text())
    assert {p["name"]: round(p["value"], 5) for p in written["parameters"]}["startup_delay_s"] == report[
        "startup_delay_s"
    ]
    print(json.dumps({"fitted": report, "notes": result.notes, "diagnostics": result.diagnostics}))
    assert rel("pod_capacity_rps", TRUE_MU) <= 0.10, (report, result.notes)
    assert result.parameter("pod_capacity_rps").source == "served rate per pod at saturation"
    assert abs(result.diagnostics["capacity_from_cpu_rps"] / TRUE_MU - 1) <= 0.10, result.diagnostics
    assert rel("startup_delay_s", TRUE_STARTUP_S) <= 0.10, (report, result.notes)
    assert result.parameter("startup_delay_s").samples == 3  # 2 pods, then 1
    assert rel("base_latency_s", TRUE_BASE_LATENCY_S) <= 0.10, (report, result.notes)
    assert rel("cpu_idle_cores", TRUE_IDLE) <= 0.10, report
    assert rel("cpu_per_request_core_s", TRUE_CPU_PER_REQUEST) <= 0.10, report
    # The file is a preset that --service accepts, with the fitted values in it.
    loaded = load_service(str(tmp_path / "preset.json"))
    assert loaded.spec.name == "calib"
    assert abs(float(loaded.mu_rps) / TRUE_MU - 1) <= 0.10
    assert loaded.spec.pod_capacity_rps == pytest.approx(float(loaded.mu_rps))
    assert loaded.spec.slo_latency_s == get_preset("web").spec.slo_latency_s  # from --base


# -------------------------------------------------------------------- estimators, offline
def synthetic_history(
    *,
    scale_up: bool = True,
    window_s: float = 4.0,
    step_s: float = 1.0,
    startup_s: float = 8.0,
) -> History:
    """What the exporters would show for ``true_params`` (noise-free, fluid): per-pod CPU on
    the CPU line, mean latency from the M/M/c law, replicas stepping after a start-up delay."""
    from rlscale.calibration.fit import mmc_mean_wait_s

    t = np.arange(0.0, 120.0 + 1e-9, step_s)
    load = np.where(t < 40, 8.0, np.where(t < 80, 14.0, 24.0))
    desired = np.where((t >= 60) & scale_up, 2.0, 1.0)
    ready = np.where((t >= 60 + startup_s) & scale_up, 2.0, 1.0)
    served = np.minimum(load, ready * TRUE_MU)
    cpu = ready * (TRUE_IDLE + served / ready * TRUE_CPU_PER_REQUEST)
    mean_lat = TRUE_BASE_LATENCY_S + 1 / TRUE_MU + mmc_mean_wait_s(ready, served, TRUE_MU)
    return History(
        time_s=t,
        rates={
            "served_rps": served,
            "latency_sum_rate": served * mean_lat,
            "request_rate_rps": load,
            "dropped_rps": np.zeros_like(t),
            "cpu_usage_cores": cpu,
            "latency_p95_s": np.full_like(t, np.nan),
        },
        replica_time_s=t,
        replicas={"ready_replicas": ready, "desired_replicas": desired},
        constants={
            "cpu_request_cores": TRUE_CPU_LIMIT,
            "cpu_limit_cores": np.nan,
            "memory_request_bytes": 2**28,
        },
        window_s=window_s,
    )


def test_fit_service_recovers_parameters_from_exact_history() -> None:
    result = fit_service(synthetic_history(), get_preset("web"), name="calib")
    assert result.parameter("pod_capacity_rps").value == pytest.approx(TRUE_MU, rel=1e-6)
    assert result.parameter("pod_capacity_rps").source.startswith("(limit")  # never saturated
    assert result.parameter("cpu_idle_cores").value == pytest.approx(TRUE_IDLE, rel=1e-6)
    assert result.parameter("base_latency_s").value == pytest.approx(TRUE_BASE_LATENCY_S, rel=1e-6)
    assert result.parameter("startup_delay_s").value == pytest.approx(8.0)
    assert result.params.spec.memory_request_gib == pytest.approx(0.25)
    assert any("limit is taken equal to the request" in n for n in result.notes)
    assert result.diagnostics["latency_mean_median_rel_error"] < 1e-6


def test_no_scale_up_keeps_base_startup_and_says_so() -> None:
    base = get_preset("web")
    result = fit_service(synthetic_history(scale_up=False), base, name="calib")
    p = result.parameter("startup_delay_min_s")
    assert p.source == "base preset" and p.value == float(base.startup_delay_min_s)
    assert result.params.startup_delay_max_s == base.startup_delay_max_s
    assert any("no scale-up observed" in n and "kept the base preset" in n for n in result.notes)
    # the rest is still fitted
    assert result.parameter("pod_capacity_rps").value == pytest.approx(TRUE_MU, rel=1e-6)


def test_windows_straddling_a_ready_change_are_left_out() -> None:
    # Corrupt every sample whose window overlaps the scale-up: the fit must not see them.
    h = synthetic_history()
    near = (h.time_s > 60 + 8.0 - 0.5) & (h.time_s < 60 + 8.0 + h.window_s + 2)
    h.rates["cpu_usage_cores"][near] *= 5.0
    result = fit_service(h, get_preset("web"))
    assert result.parameter("cpu_idle_cores").value == pytest.approx(TRUE_IDLE, rel=1e-6)


def test_startup_lag_censored_when_desired_changes_again() -> None:
    h = synthetic_history()
    h.replicas["desired_replicas"][(h.time_s >= 63)] = 1.0  # scaled back before the pod was ready
    h.replicas["ready_replicas"][:] = 1.0
    lags, notes = startup_lags(h)
    assert lags == []
    assert any("not ready before the desired count changed again" in n for n in notes)


def test_too_few_stable_samples_is_a_clear_error() -> None:
    h = synthetic_history(window_s=200.0)
    with pytest.raises(ValueError, match=r"constant ready count over the 200 s rate window"):
        fit_service(h, get_preset("web"))


def test_parse_duration() -> None:
    assert parse_duration_s("30m") == 1800.0
    assert parse_duration_s("1h30m") == 5400.0
    assert parse_duration_s("500ms") == 0.5
    assert parse_duration_s("15") == 15.0
    with pytest.raises(ValueError, match=r"--since: '3 min' is not a duration"):
        parse_duration_s("3 min", "--since")
    with pytest.raises(ValueError, match="must be > 0"):
        parse_duration_s("0s")


# ------------------------------------------- a Prometheus that answers with no data at all
class _EmptyPrometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_query_returning_nothing_names_signal_and_query(empty_prometheus: str, tmp_path: Path) -> None:
    out = tmp_path / "preset.json"
    with pytest.raises(CalibrationDataError) as info:
        calibrate_prometheus(empty_prometheus, "shop", "web", since_s=600, step_s=5, out=out)
    message = str(info.value)
    assert "signal served_rps: the query returned no data" in message
    assert 'http_request_duration_seconds_count{namespace="shop",service="web"}' in message
    assert not out.exists()  # nothing written


def test_bad_names_and_queries_are_rejected() -> None:
    with pytest.raises(ValueError, match="deployment 'Web_1' is not a valid Kubernetes name"):
        calibrate_prometheus("http://127.0.0.1:9", "default", "Web_1", since_s=60, step_s=5)
    with pytest.raises(ValueError, match="served_rps: a query is required"):
        CalibrationQueries(served_rps=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        CalibrationQueries(window="2 s")


def test_prometheus_down_is_named() -> None:
    with pytest.raises(CalibrationDataError, match=r"signal served_rps: query failed \(connection_error"):
        calibrate_prometheus(f"http://127.0.0.1:{_live.free_port()}", "default", "web", since_s=60, step_s=5)
