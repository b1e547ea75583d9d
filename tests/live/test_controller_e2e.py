"""Acceptance: emulator + real Prometheus + the ``rlscale run`` code path close the loop.

``build_controller(RunConfig)`` is exactly what ``rlscale run`` executes (cli/run.py only
parses flags into the RunConfig); the fast preset decides every 0.25 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlscale.controller.app import RunConfig, build_controller
from rlscale.controller.decision_log import read_decision_log
from rlscale.emulator import EmulatedService, rise_and_fall_load
from rlscale.emulator.cluster import fast_params

INTERVAL_S = 0.25
FAST_HPA = "hpa:sync_s=0.25,window_s=2"


def fast_config(prometheus_url: str, kubeconfig: Path, log_file: Path, **overrides: Any) -> RunConfig:
    """The fast preset: 0.25 s decisions, 2 s stabilisation, 3 s rate() windows (1 s scrapes)."""
    values: dict[str, Any] = {
        "namespace": "default",
        "deployment": "web",
        "prometheus_url": prometheus_url,
        "min_replicas": 1,
        "max_replicas": 10,
        "policy": FAST_HPA,
        "fallback_policy": FAST_HPA,
        "interval_s": INTERVAL_S,
        "kubeconfig": str(kubeconfig),
        "log_file": str(log_file),
        "stabilization_window_s": 2.0,
        "rate_period_s": 1.0,
        "metric_queries": {"window": "3s"},
        "staleness_s": 5.0,
        "prometheus_timeout_s": 0.5,
        "api_timeout_s": 0.5,
        "api_max_attempts": 2,
        "policy_retry_s": 0.5,
    }
    values.update(overrides)
    return RunConfig(**values)


def rising_falling_service(period_s: float = 20.0) -> EmulatedService:
    return EmulatedService(
        name="web", params=fast_params("web"), load=rise_and_fall_load(4.0, 70.0, period_s), initial_replicas=1
    )


def wait_for_data(prometheus: Any) -> None:
    prometheus.wait_for('sum(rate(http_requests_total{service="web"}[3s]))', lambda v: v > 0, timeout_s=20)
    prometheus.wait_for('sum(kube_deployment_spec_replicas{deployment="web"})', lambda v: v >= 1, timeout_s=20)


def test_closed_loop_follows_a_rising_and_falling_load(
    emulator_factory: Any, prometheus_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory([rising_falling_service(period_s=20.0)])
    prom = prometheus_factory(emu)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    wait_for_data(prom)
    log_file = tmp_path / "decisions.jsonl"
    controller = build_controller(fast_config(prom.url, kubeconfig, log_file, max_decisions=72))
    port = controller.metrics.serve(0)
    try:
        made = controller.run_forever(INTERVAL_S, max_decisions=72)
        import urllib.request

        metrics_text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        controller.metrics.close()
        controller.logger.close()  # type: ignore[union-attr]
    assert made == 72
    records = read_decision_log(log_file)
    assert len(records) == 72  # every decision logged
    finals = [r["final_replicas"] for r in records]
    assert all(1 <= f <= 10 for f in finals)
    assert all("reasons" in r and "inputs" in r and "proposed_replicas" in r for r in records)
    rates = [r["inputs"]["request_rate_rps"] for r in records]
    peak_at = max(range(len(rates)), key=lambda i: rates[i] if rates[i] is not None else -1)
    # replicas follow load: up to the peak, then down again once it falls
    assert max(finals) >= 5, finals
    assert finals[0] <= 2 and max(finals[: peak_at + 8]) >= 5
    assert finals[-1] <= max(finals) - 2, finals
    assert sum(r["patched"] for r in records) >= 4
    assert 'rlscale_decisions_total{target="default/web"} 72.0' in metrics_text
    # the cluster really has what the controller decided last
    from kubernetes import client, config

    api = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    assert api.read_namespaced_deployment_scale("web", "default").spec.replicas == finals[-1]
