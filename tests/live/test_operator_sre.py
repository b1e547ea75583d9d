"""The operator as an SRE meets it (issue 15): decisions that name the policy's own reasons in
the decision log, the CR's status and events; labelled metrics; the trial's operator defects
(healthy CRs warned about, two decisions at a take-over, leaseTransitions stuck at 0, a silent
follower, min > max hidden behind schema errors, InvalidSpec re-posted by each leader, events
from "kopf"); and a restart that does not hold extra pods for a whole downscale window.

Time runs 4x faster than real time, as in test_operator.py (whose helpers these tests use).
"""

from __future__ import annotations

import logging
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rlscale.controller.crd import validate_spec
from rlscale.controller.decision_log import read_decision_log
from rlscale.controller.operator import EVENT_COMPONENT, Operator
from rlscale.controller.operator_config import OperatorConfig
from rlscale.controller.operator_status import decision_conditions, entered_warning_states
from rlscale.core.decision import Decision, Reason
from rlscale.emulator import EmulatedService, constant_load
from rlscale.emulator.services import fast_params

pytest.importorskip("kopf")

from test_operator import (
    FAST_HPA,
    NAMESPACE,
    SPEEDUP,
    DelayedLoad,
    decisions,
    fast_spec,
    make_cluster,
    unvalidated_crd,
    wait_until,
)

__all__ = ["make_cluster"]  # the fixture, used by name


def _scrape(op: Operator) -> str:
    port = op.metrics._server.server_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as rsp:
        return rsp.read().decode()


# -- defects found by reading: unit level -----------------------------------------------------
def test_min_greater_than_max_is_reported_together_with_schema_errors() -> None:
    spec = fast_spec(minReplicas=7, maxReplicas=3, policy="Bad Policy")
    problems = validate_spec(spec)
    assert any(p.startswith("spec.policy") for p in problems)
    assert any("minReplicas must be less than or equal to maxReplicas" in p for p in problems), problems


def test_a_healthy_decision_enters_no_warning_state() -> None:
    healthy = Decision(time_s=0.0, current_replicas=3, proposed_replicas=3, final_replicas=3)
    conditions = [
        {"type": kind, "status": status, "reason": reason, "message": message}
        for kind, (status, reason, message) in decision_conditions(healthy).items()
    ]
    assert {c["type"]: c["status"] for c in conditions}["ScalingLimited"] == "False"  # DesiredWithinRange
    assert entered_warning_states({}, conditions) == []
    stale = Decision(0.0, 3, 3, 3, reasons=(Reason("StaleMetrics", "metrics not fresh", 3, 3),))
    bad = [
        {"type": kind, "status": status, "reason": reason, "message": message}
        for kind, (status, reason, message) in decision_conditions(stale).items()
    ]
    assert [c["type"] for c in entered_warning_states({}, bad)] == ["ScalingActive"]
    assert entered_warning_states({"ScalingActive": "False"}, bad) == []  # once, not every period


def test_lease_transitions_count_taking_a_released_lease(emulator_factory: Any, tmp_path: Path) -> None:
    from kubernetes import client, config

    from rlscale.controller.operator_lease import LeaseConfig, LeaseElector

    emu = emulator_factory(auto_step=False)
    api = client.CoordinationV1Api(config.new_client_from_config(str(emu.write_kubeconfig(tmp_path / "kc"))))
    lease = LeaseConfig("default", "test-lease", 3, 2.0, 0.4)
    a, b = LeaseElector(api, lease, "a"), LeaseElector(api, lease, "b")
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    a.release()  # a clean hand-over: the holder is cleared
    assert b.try_acquire_or_renew()
    spec = api.read_namespaced_lease("test-lease", "default").spec
    assert (spec.holder_identity, spec.lease_transitions) == ("b", 1)


# -- the closed loop: emulator + real Prometheus + operator ------------------------------------
@pytest.mark.prometheus
def test_decisions_name_the_policys_reasons_and_metrics_are_labelled(make_cluster: Any) -> None:
    """A learned policy scales up on a rising load and proposes fewer pods after the peak, which
    the guard holds for its window: the decision log, the status and the events say why in the
    policy's own words, then the guard's; the metrics say it per target."""
    load = DelayedLoad(low_rps=4.0, peak_rps=45.0, period_s=40.0)
    cluster = make_cluster(load)
    cluster.wait_for_data()
    op = cluster.operator("op-a", metrics_port=0)
    log_path = Path(op.config.log_file)
    spec = fast_spec(policy="learned:memory_floor=0")
    spec["behavior"]["scaleDownStabilizationSeconds"] = 12
    cluster.create("web", spec)
    load.begin(cluster.emu.cluster.sim_time_s)

    def up_and_held() -> bool:
        records = decisions(log_path)
        ups = [r for r in records if r["final_replicas"] > r["current_replicas"]]
        held = [
            r for r in records if 0 <= r["proposed_replicas"] < r["current_replicas"] == r["final_replicas"]
        ]
        return bool(ups and held)

    wait_until(up_and_held, 60, "a scale-up and a held scale-down")
    records = decisions(log_path)
    up = next(r for r in records if r["final_replicas"] > r["current_replicas"])
    assert up["policy"] == "learned:memory_floor=0"
    assert up["policy_reasons"][0]["code"] == "PolicySizedForLoad"
    assert up["policy_reasons"][0]["after"] >= up["final_replicas"] or any(
        r["code"] == "ScaleUpLimit" for r in up["reasons"]
    )
    assert "req/s" in up["policy_reasons"][0]["message"]
    assert set(up["observation"]) >= {"load_per_desired", "load_peak_memory"}  # named features
    held = next(
        r for r in records if 0 <= r["proposed_replicas"] < r["current_replicas"] == r["final_replicas"]
    )
    assert held["policy_reasons"] and held["policy_reasons"][0]["after"] == held["proposed_replicas"]
    assert [r["code"] for r in held["reasons"]] == ["ScaleDownStabilized"]

    def events_named() -> bool:
        reasons = {e.reason for e in cluster.events("web")}
        return {"SuccessfulRescale", "ScaleDownHeld"} <= reasons

    wait_until(events_named, 20, "the rescale and held events")
    events = cluster.events("web")
    rescale = next(e for e in events if e.reason == "SuccessfulRescale")
    assert "policy: sized for" in rescale.message and "guard:" in rescale.message
    hold = next(e for e in events if e.reason == "ScaleDownHeld")
    assert "policy: sized for" in hold.message and "ScaleDownStabilized" in hold.message
    assert not [e for e in events if e.type == "Warning"], [(e.reason, e.message) for e in events]
    assert {e.source.component for e in events} == {EVENT_COMPONENT}
    last = cluster.get("web")["status"]["lastDecision"]
    assert last["policyReasons"] and last["policyReasons"][0]["code"].startswith("Policy")
    assert last["summary"].split("(")[1].startswith("Policy")

    text = _scrape(op)
    target = f'target="{NAMESPACE}/web"'
    for line in (
        f"rlscale_current_replicas{{{target}}}",
        f"rlscale_proposed_replicas{{{target}}}",
        f"rlscale_desired_replicas{{{target}}}",
        f'rlscale_signal_healthy{{signal="request_rate_rps",{target}}} 1.0',
        f"rlscale_metrics_age_seconds{{{target}}}",
        f'rlscale_guard_interventions_total{{reason="ScaleDownStabilized",{target}}}',
        'rlscale_leader{identity="op-a"} 1.0',
    ):
        assert line in text, line
    info = [ln for ln in text.splitlines() if ln.startswith("rlscale_policy_info{")]
    assert len(info) == 1 and 'policy="learned:memory_floor=0"' in info[0]
    version = info[0].split('version="')[1].split('"')[0]
    assert len(version) == 12 and int(version, 16) >= 0  # the weights' hash


@pytest.mark.prometheus
def test_a_take_over_decides_once_keeps_the_warning_and_the_follower_reports(
    make_cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Two replicas; the leader stops cleanly. The follower said whom it followed and exported
    rlscale_leader 0; at the take-over leaseTransitions becomes 1, the first two decisions are a
    period apart (not milliseconds), and the InvalidSpec warning of a bad CR is not posted again."""
    from kubernetes import client

    cluster = make_cluster(constant_load(25.0), crds=[unvalidated_crd()])
    cluster.wait_for_data()
    coordination = client.CoordinationV1Api(cluster.custom.api_client)
    caplog.set_level(logging.INFO, logger="rlscale.controller.operator")
    a = cluster.operator("op-a")
    wait_until(lambda: a.is_leader, 10, "op-a to lead")
    b = cluster.operator("op-b", metrics_port=0)
    cluster.create("web", fast_spec())
    cluster.create("inverted", fast_spec(minReplicas=7, maxReplicas=3))
    wait_until(
        lambda: [e for e in cluster.events("inverted") if e.reason == "InvalidSpec"], 20, "InvalidSpec"
    )
    wait_until(lambda: 'rlscale_leader{identity="op-b"} 0.0' in _scrape(b), 10, "the follower's gauge")
    assert any("op-b: follower of op-a" in r.getMessage() for r in caplog.records)
    assert decisions(Path(b.config.log_file)) == []

    a.stop()  # releases the lease: a clean hand-over
    wait_until(lambda: b.is_leader, 20, "op-b to take over")
    b_log = Path(b.config.log_file)
    wait_until(lambda: len(decisions(b_log)) >= 3, 20, "the new leader's decisions")
    lease = coordination.read_namespaced_lease("rlscale-operator", NAMESPACE).spec
    assert (lease.holder_identity, lease.lease_transitions) == ("op-b", 1)
    times = [datetime.fromisoformat(r["time"]).timestamp() for r in decisions(b_log)]
    interval_wall_s = 1.0 / SPEEDUP
    assert times[1] - times[0] > 0.5 * interval_wall_s, times[:3]  # not a second decision at once
    assert 'rlscale_leader{identity="op-b"} 1.0' in _scrape(b)
    time.sleep(1.0)
    invalid = [e for e in cluster.events("inverted") if e.reason == "InvalidSpec"]
    assert len(invalid) == 1, [(e.source.component, e.message) for e in invalid]


# -- a restart during a falling load --------------------------------------------------------
class FallingLoad:
    """High load, then a drop at :meth:`drop` (simulated seconds)."""

    def __init__(self, high_rps: float, low_rps: float) -> None:
        self.high_rps, self.low_rps = high_rps, low_rps
        self.drop_at_s: float | None = None

    def drop(self, sim_time_s: float) -> None:
        self.drop_at_s = sim_time_s

    def __call__(self, t_s: float) -> float:
        return self.low_rps if self.drop_at_s is not None and t_s >= self.drop_at_s else self.high_rps


@pytest.mark.prometheus
def test_a_restarted_operator_scales_down_when_one_never_restarted_does(
    emulator_factory: Any, prometheus_factory: Any, tmp_path: Path
) -> None:
    """The same service and load in two namespaces, each with its own operator. During the
    falling load one operator is killed (no release) and a new one takes over once the lease
    expires; it continues the downscale window from the CR's status, so it scales down no
    later than the operator that kept running (within one period)."""
    from kubernetes import client, config

    load = FallingLoad(40.0, 4.0)
    services = [
        EmulatedService(name="web", params=fast_params("web"), load=load, initial_replicas=4, namespace=ns)
        for ns in ("steady", "restarted")
    ]
    emu = emulator_factory(services, speedup=SPEEDUP)
    prom = prometheus_factory(emu)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    custom = client.CustomObjectsApi(config.new_client_from_config(str(kubeconfig)))
    apps = client.AppsV1Api(custom.api_client)
    prom.wait_for('sum(rate(http_requests_total{service="web"}[3s]))', lambda v: v > 0, timeout_s=20)

    def operator(ns: str, identity: str) -> Operator:
        cfg = OperatorConfig(
            namespace=ns, kubeconfig=str(kubeconfig), prometheus_url=prom.url, identity=identity,
            lease_duration_s=2, time_scale=SPEEDUP, log_file=str(tmp_path / f"{identity}.jsonl"),
            scanning=False, release_on_exit=False,
        )  # fmt: skip
        return Operator(cfg).start()

    window_s = 30
    spec = fast_spec(policy="hpa:sync_s=0.5,window_s=0,target=50")  # the guard's window is the only one
    spec["behavior"].update(scaleDownStabilizationSeconds=window_s, fallbackPolicy=FAST_HPA)
    operators = {"steady": operator("steady", "steady-1"), "restarted": operator("restarted", "restarted-1")}
    replacement: Operator | None = None
    try:
        for ns in operators:
            body = {"apiVersion": "rlscale.io/v1alpha1", "kind": "RLAutoscaler", "metadata": {"name": "web"}}
            custom.create_namespaced_custom_object(
                "rlscale.io", "v1alpha1", ns, "rlautoscalers", {**body, "spec": spec}
            )

        def replicas(ns: str) -> int:
            return int(apps.read_namespaced_deployment_scale("web", ns).spec.replicas)

        wait_until(
            lambda: min(replicas(ns) for ns in operators) >= 6, 40, "both to scale up for the high load"
        )
        time.sleep(8 / SPEEDUP)  # settle at the top
        plateau = {ns: replicas(ns) for ns in operators}
        load.drop(emu.cluster.sim_time_s)
        time.sleep(4 / SPEEDUP)  # the policies now propose fewer pods; the guard holds them
        operators["restarted"].stop()  # killed: the lease is not released
        replacement = operator("restarted", "restarted-2")

        first_down: dict[str, float] = {}
        deadline = time.monotonic() + 3 * window_s / SPEEDUP + 20
        while len(first_down) < 2 and time.monotonic() < deadline:
            now_s = emu.cluster.sim_time_s
            for ns in operators:
                if ns not in first_down and replicas(ns) < plateau[ns]:
                    first_down[ns] = now_s
            time.sleep(0.05)
        assert set(first_down) == {"steady", "restarted"}, (first_down, plateau)
        assert replacement.is_leader
        period_s = spec["intervalSeconds"]
        # without the saved window the restarted one would wait a whole window from its start
        assert first_down["restarted"] <= first_down["steady"] + period_s + 0.5, first_down
        records = read_decision_log(Path(replacement.config.log_file))
        assert records, "the replacement decided nothing"
    finally:
        for op in (*operators.values(), replacement):
            if op is not None:
                op.stop()
