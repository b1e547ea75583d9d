"""Fault suite (issue 5): emulator + real Prometheus + the ``rlscale run`` code path.

In every case the controller keeps running, never writes replicas outside [min, max], holds
or falls back with a recorded reason, and recovers when the fault clears. The target's
bounds are [3, 6] while the emulated Deployment starts at 2 replicas, so a healthy
controller must patch (to at least 3): that makes every API fault observable.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from rlscale.controller.app import build_controller
from rlscale.controller.decision_log import read_decision_log
from rlscale.controller.loop import FAILED_GET_SCALE, FAILED_RESCALE, Controller
from rlscale.controller.server import BackgroundServer
from rlscale.core.decision import Decision
from rlscale.safety import FALLBACK_HPA, HOLD_REPLICAS, POLICY_ERROR, STALE_METRICS

sys.path.insert(0, str(Path(__file__).parent))
from test_controller_e2e import fast_config, wait_for_data

MIN, MAX = 3, 6


def _scale(emu: Any, kubeconfig: Path) -> int:
    from kubernetes import client, config

    api = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    return int(api.read_namespaced_deployment_scale("web", "default").spec.replicas)


@pytest.fixture
def cluster(emulator_factory: Any, prometheus_factory: Any, tmp_path: Path) -> dict[str, Any]:
    emu = emulator_factory()
    prom = prometheus_factory(emu)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    wait_for_data(prom)
    return {"emu": emu, "prom": prom, "kubeconfig": kubeconfig, "log": tmp_path / "decisions.jsonl"}


def _controller(c: dict[str, Any], prometheus_url: str | None = None, **overrides: Any) -> Controller:
    config = fast_config(
        prometheus_url or c["prom"].url,
        c["kubeconfig"],
        c["log"],
        min_replicas=MIN,
        max_replicas=MAX,
        **overrides,
    )
    return build_controller(config)


def _run(controller: Controller, n: int) -> list[Decision]:
    out = []
    for _ in range(n):
        out.append(controller.reconcile_once())
        time.sleep(0.25)
    return out


def _codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons}


def _assert_within_bounds(c: dict[str, Any]) -> None:
    for record in read_decision_log(c["log"]):
        if record["patched"]:
            assert MIN <= record["final_replicas"] <= MAX, record


def _recovers(controller: Controller, tries: int = 40) -> Decision:
    for _ in range(tries):
        d = controller.reconcile_once()
        bad = _codes(d) & {STALE_METRICS, HOLD_REPLICAS, FAILED_RESCALE, FAILED_GET_SCALE, POLICY_ERROR}
        if not bad:
            return d
        time.sleep(0.25)
    raise AssertionError(
        f"no healthy decision after {tries} tries; last reasons {[r.code for r in d.reasons]}"
    )


def test_prometheus_stopped_mid_run(cluster: dict[str, Any]) -> None:
    controller = _controller(cluster)
    healthy = _run(controller, 3)
    assert healthy[-1].final_replicas >= MIN
    cluster["prom"].stop()
    during = _run(controller, 4)
    for d in during:
        assert STALE_METRICS in _codes(d) and d.final_replicas == d.current_replicas
    cluster["prom"].start()
    wait_for_data(cluster["prom"])
    _recovers(controller)
    _assert_within_bounds(cluster)


class PrometheusFaultProxy:
    """Forwards to the real Prometheus, or answers with the injected fault."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode: str | None = None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = BackgroundServer(app)

    async def _handle(self, request: web.Request) -> web.Response:
        mode = self.mode
        if mode == "http500":
            return web.json_response(
                {"status": "error", "errorType": "internal", "error": "injected"}, status=500
            )
        if mode == "slow":
            await asyncio.sleep(2.0)
        async with ClientSession(timeout=ClientTimeout(total=5)) as session:
            async with session.request(
                request.method, self.upstream + request.path_qs, data=await request.read()
            ) as r:
                body = await r.read()
                status = r.status
        if mode in ("nan", "empty") and request.path.startswith("/api/v1/query"):
            data = json.loads(body)
            result = data.get("data", {}).get("result")
            if isinstance(result, list):
                if mode == "empty":
                    data["data"]["result"] = []
                else:
                    for series in result:
                        series["value"][1] = "NaN"
            body = json.dumps(data).encode()
        return web.Response(body=body, status=status, content_type="application/json")


@pytest.mark.parametrize("mode", ["nan", "empty", "slow", "http500"])
def test_prometheus_faults(cluster: dict[str, Any], mode: str) -> None:
    proxy = PrometheusFaultProxy(cluster["prom"].url)
    with proxy.server:
        controller = _controller(cluster, prometheus_url=proxy.server.url)
        _run(controller, 2)
        proxy.mode = mode
        during = _run(controller, 3)
        for d in during:
            assert STALE_METRICS in _codes(d), [r.code for r in d.reasons]
            assert d.final_replicas == d.current_replicas  # held, never a blind scale-down
        proxy.mode = None
        _recovers(controller)
    records = read_decision_log(cluster["log"])
    assert any(r["unhealthy_signals"] for r in records)
    _assert_within_bounds(cluster)


def test_api_conflict_is_retried(cluster: dict[str, Any]) -> None:
    emu = cluster["emu"]
    emu.faults.add(r"deployments/web/scale", status=409, count=1, method="PATCH")
    controller = _controller(cluster)
    d = controller.reconcile_once()
    assert FAILED_RESCALE not in _codes(d)
    assert _scale(emu, cluster["kubeconfig"]) == d.final_replicas >= MIN


@pytest.mark.parametrize("fault", ["http500", "timeout"])
def test_api_errors_and_timeouts(cluster: dict[str, Any], fault: str) -> None:
    emu = cluster["emu"]
    if fault == "http500":
        emu.faults.add(r"deployments/web/scale", status=500, count=None)
    else:
        emu.faults.add(r"deployments/web/scale", status=None, delay_s=2.0, count=None)
    controller = _controller(cluster)
    during = _run(controller, 2)
    for d in during:
        assert _codes(d) & {FAILED_RESCALE, FAILED_GET_SCALE}, [r.code for r in d.reasons]
    emu.faults.clear()
    d = _recovers(controller)
    assert MIN <= _scale(emu, cluster["kubeconfig"]) <= MAX
    assert d.final_replicas >= MIN
    _assert_within_bounds(cluster)


@pytest.mark.parametrize("damage", ["corrupt", "mismatched"])
def test_corrupt_or_mismatched_policy_file_falls_back_to_hpa(
    cluster: dict[str, Any], tmp_path: Path, damage: str
) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    if damage == "corrupt":
        (ckpt / "metadata.json").write_text("{ not json")
        (ckpt / "model.safetensors").write_bytes(b"\x00garbage")
    else:
        (ckpt / "metadata.json").write_text(
            json.dumps({"format": "rlscale-checkpoint", "observation": {"features": ["x"]}})
        )
    controller = _controller(cluster, policy=f"learned:{ckpt}")
    decisions = _run(controller, 3)
    for d in decisions:
        assert {POLICY_ERROR, FALLBACK_HPA} <= _codes(d), [r.code for r in d.reasons]
        assert MIN <= d.final_replicas <= MAX
    assert _scale(cluster["emu"], cluster["kubeconfig"]) >= MIN  # the HPA fallback still scaled
    _assert_within_bounds(cluster)


def test_controller_process_restarted_mid_run(cluster: dict[str, Any]) -> None:
    c = cluster
    args = [
        sys.executable, "-m", "rlscale.cli.run",
        "--namespace", "default", "--deployment", "web", "--prometheus", c["prom"].url,
        "--min", str(MIN), "--max", str(MAX), "--interval", "0.25", "--kubeconfig", str(c["kubeconfig"]),
        "--log-file", str(c["log"]), "--policy", "hpa:sync_s=0.2,window_s=2,target=50",
        "--fallback-policy", "hpa:sync_s=0.2,window_s=2,target=50", "--stabilization-window", "2",
        "--metric-window", "3s", "--staleness", "5", "--prometheus-timeout", "0.5", "--api-timeout", "0.5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        not c["log"].exists() or len(c["log"].read_text().splitlines()) < 6
    ):
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # no goodbye: a crash, not a shutdown
    first.wait(10)
    before = len(read_decision_log(c["log"]))
    assert before >= 6, first.stderr.read().decode() if first.stderr else ""
    second = subprocess.Popen(
        [*args, "--max-decisions", "8"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert second.wait(60) == 0, second.stderr.read().decode() if second.stderr else ""
    finally:
        if second.poll() is None:
            second.kill()
    records = read_decision_log(c["log"])
    assert len(records) == before + 8
    # the restarted controller re-read the replicas from the cluster, so it continues from there
    assert (
        records[before]["current_replicas"] == records[before - 1]["final_replicas"]
        or records[before - 1]["patched"] is False
    )
    assert all(MIN <= r["final_replicas"] <= MAX for r in records[before:])
    _assert_within_bounds(c)
