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
from rlscale.emulator.services import fast_params

INTERVAL_S = 0.25
DECISIONS = 88
FAST_HPA = "hpa:sync_s=0.2,window_s=2,target=50"  # sync_s < interval: every call is a sync


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


class DelayedLoad:
    """A constant low load until :meth:`begin`, then one rise-and-fall cycle (so the cycle
    starts when the controller does, not when Prometheus first has data)."""

    def __init__(self, low_rps: float = 4.0, peak_rps: float = 45.0, period_s: float = 14.0) -> None:
        self.low_rps = low_rps
        self.curve = rise_and_fall_load(low_rps, peak_rps, period_s)
        self.period_s = period_s
        self.start_s: float | None = None

    def begin(self, sim_time_s: float) -> None:
        self.start_s = sim_time_s

    def __call__(self, t_s: float) -> float:
        if self.start_s is None or t_s < self.start_s or t_s > self.start_s + self.period_s:
            return self.low_rps
        return self.curve(t_s - self.start_s)


def rising_falling_service(load: DelayedLoad) -> EmulatedService:
    return EmulatedService(name="web", params=fast_params("web"), load=load, initial_replicas=1)


def wait_for_data(prometheus: Any) -> None:
    prometheus.wait_for('sum(rate(http_requests_total{service="web"}[3s]))', lambda v: v > 0, timeout_s=20)
    prometheus.wait_for(
        'sum(kube_deployment_spec_replicas{deployment="web"})', lambda v: v >= 1, timeout_s=20
    )


def test_closed_loop_follows_a_rising_and_falling_load(
    emulator_factory: Any, prometheus_factory: Any, tmp_path: Path
) -> None:
    load = DelayedLoad()
    emu = emulator_factory([rising_falling_service(load)])
    prom = prometheus_factory(emu)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    wait_for_data(prom)
    log_file = tmp_path / "decisions.jsonl"
    controller = build_controller(fast_config(prom.url, kubeconfig, log_file, max_decisions=DECISIONS))
    port = controller.metrics.serve(0)
    load.begin(emu.cluster.sim_time_s)
    try:
        made = controller.run_forever(INTERVAL_S, max_decisions=DECISIONS)
        import urllib.request

        metrics_text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        controller.metrics.close()
        controller.logger.close()  # type: ignore[union-attr]
    assert made == DECISIONS
    records = read_decision_log(log_file)
    assert len(records) == DECISIONS  # every decision logged
    finals = [r["final_replicas"] for r in records]
    assert all(1 <= f <= 10 for f in finals)
    assert all("reasons" in r and "inputs" in r and "proposed_replicas" in r for r in records)
    rates = [r["inputs"]["request_rate_rps"] for r in records]
    peak_at = max(range(len(rates)), key=lambda i: rates[i] if rates[i] is not None else -1)
    # replicas follow load: up to the peak, then down again once it falls
    assert max(finals) >= 5, finals
    assert finals[0] <= 2 and max(finals[: peak_at + 12]) >= 5
    assert finals[-1] <= max(finals) - 2, finals
    assert sum(r["patched"] for r in records) >= 4
    assert f'rlscale_decisions_total{{target="default/web"}} {DECISIONS}.0' in metrics_text
    # the cluster really has what the controller decided last
    from kubernetes import client, config

    api = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    assert api.read_namespaced_deployment_scale("web", "default").spec.replicas == finals[-1]
