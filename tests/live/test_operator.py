"""Acceptance: ``rlscale operator`` (kopf) with RLAutoscaler custom resources on the emulated
cluster, with a real Prometheus scraping it.

Time: the emulator runs 4x faster than real time (1 s simulated steps every 0.25 s) and the
operator is told so (``time_scale=4``), so a CR deciding every ``intervalSeconds: 1``
decides every 0.25 s of wall time and 60+ decisions fit in well under a minute, while the
CR itself stays valid for a real cluster (intervalSeconds >= 1).
"""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rlscale.controller.crd import GROUP, PLURAL, VERSION, crd_manifest
from rlscale.controller.decision_log import read_decision_log
from rlscale.controller.operator import Operator
from rlscale.controller.operator_config import OperatorConfig
from rlscale.emulator import EmulatedService, constant_load, rise_and_fall_load
from rlscale.emulator.services import fast_params

pytest.importorskip("kopf")

SPEEDUP = 4.0
NAMESPACE = "default"
FAST_HPA = "hpa:sync_s=0.5,window_s=8,target=50"  # simulated seconds; sync < interval: every decision syncs


def fast_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "policy": FAST_HPA,
        "slo": {"latencySeconds": 0.5},
        "service": {"podCapacityRps": 10, "startupDelaySeconds": 2},
        "metrics": {"window": "3s", "stalenessSeconds": 5, "timeoutSeconds": 0.5},
        "behavior": {
            "scaleDownStabilizationSeconds": 8,
            "periodSeconds": 4,
            "fallbackPolicy": FAST_HPA,
        },
        "intervalSeconds": 1,
    }
    spec.update(overrides)
    return spec


def body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RLAutoscaler",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


class DelayedLoad:
    """Low load until :meth:`begin`, then one rise-and-fall cycle (simulated seconds)."""

    def __init__(self, low_rps: float = 4.0, peak_rps: float = 45.0, period_s: float = 48.0) -> None:
        self.low_rps = low_rps
        self.curve = rise_and_fall_load(low_rps, peak_rps, period_s)
        self.period_s = period_s
        self.start_s: float | None = None

    def begin(self, sim_time_s: float) -> None:
        self.start_s = sim_time_s

    def __call__(self, t_s: float) -> float:
        if self.start_s is None or not self.start_s <= t_s <= self.start_s + self.period_s:
            return self.low_rps
        return self.curve(t_s - self.start_s)


class Cluster:
    """An emulator + Prometheus + API clients for one test."""

    def __init__(
        self, emulator_factory: Any, prometheus_factory: Any, tmp_path: Path, load: Any, **emulator: Any
    ) -> None:
        from kubernetes import client, config

        service = EmulatedService(name="web", params=fast_params("web"), load=load, initial_replicas=1)
        self.emu = emulator_factory([service], speedup=SPEEDUP, **emulator)
        self.prom = prometheus_factory(self.emu)
        self.kubeconfig = self.emu.write_kubeconfig(tmp_path / "kubeconfig")
        self.tmp_path = tmp_path
        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.operators: list[Operator] = []

    def wait_for_data(self) -> None:
        self.prom.wait_for('sum(rate(http_requests_total{service="web"}[3s]))', lambda v: v > 0, timeout_s=20)
        self.prom.wait_for(
            'sum(kube_deployment_spec_replicas{deployment="web"})', lambda v: v >= 1, timeout_s=20
        )

    def operator(self, identity: str, **overrides: Any) -> Operator:
        values: dict[str, Any] = {
            "namespace": NAMESPACE,
            "kubeconfig": str(self.kubeconfig),
            "prometheus_url": self.prom.url,
            "identity": identity,
            "lease_duration_s": 2,
            "time_scale": SPEEDUP,
            "log_file": str(self.tmp_path / f"{identity}.jsonl"),
            "scanning": False,
        }
        values.update(overrides)
        op = Operator(OperatorConfig(**values)).start()
        self.operators.append(op)
        return op

    def create(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body(name, spec))

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)

    def events(self, name: str) -> list[Any]:
        return [
            e
            for e in self.core.list_namespaced_event(NAMESPACE).items
            if e.involved_object.kind == "RLAutoscaler" and e.involved_object.name == name
        ]

    def replicas(self) -> int:
        return int(self.apps.read_namespaced_deployment_scale("web", NAMESPACE).spec.replicas)

    def close(self) -> None:
        for op in self.operators:
            op.stop()


@pytest.fixture
def make_cluster(
    emulator_factory: Any, prometheus_factory: Any, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(load: Any, **emulator: Any) -> Cluster:
        cluster = Cluster(emulator_factory, prometheus_factory, tmp_path, load, **emulator)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def decisions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [r for r in read_decision_log(path) if "final_replicas" in r]


def test_operator_closes_the_loop_on_a_rising_and_falling_load(make_cluster: Any) -> None:
    load = DelayedLoad()
    cluster = make_cluster(load)
    cluster.wait_for_data()
    op = cluster.operator("op-a")
    log_path = Path(op.config.log_file)
    cluster.create("web", fast_spec())
    load.begin(cluster.emu.cluster.sim_time_s)
    wait_until(lambda: len(decisions(log_path)) >= 64, 50, "64 decisions")
    op.stop()

    records = decisions(log_path)
    finals = [r["final_replicas"] for r in records]
    assert all(1 <= f <= 10 for f in finals)
    assert all({"reasons", "inputs", "proposed_replicas", "current_replicas"} <= set(r) for r in records)
    rates = [r["inputs"].get("request_rate_rps") or 0.0 for r in records[:64]]
    peak_at = max(range(len(rates)), key=rates.__getitem__)
    # replicas follow the load up to the peak, and come down after it
    assert finals[0] <= 2 and max(finals[: peak_at + 12]) >= 5, finals
    assert finals[-1] <= max(finals) - 2, finals
    assert sum(r["patched"] for r in records) >= 4
    assert cluster.replicas() == finals[-1]

    status = cluster.get("web")["status"]
    assert status["decisions"] >= 64
    assert status["desiredReplicas"] == finals[-1]
    last = status["lastDecision"]
    assert (
        last["finalReplicas"] == finals[-1] and "->" in last["summary"] and isinstance(last["reasons"], list)
    )
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"SpecValid", "AbleToScale", "ScalingActive", "ScalingLimited"}
    assert conditions["SpecValid"]["status"] == "True"
    assert conditions["AbleToScale"]["status"] == "True"
    assert all(c["lastTransitionTime"].endswith("Z") for c in conditions.values())

    rescales = [e for e in cluster.events("web") if e.reason == "SuccessfulRescale"]
    assert len(rescales) >= 4
    assert all(e.type == "Normal" and e.message.startswith("New size: ") for e in rescales)


def unvalidated_crd() -> dict[str, Any]:
    """The RLAutoscaler CRD with a schema that takes anything: a cluster whose CRD predates the
    rules, where bad specs reach the operator (a current CRD has the API server refuse them)."""
    manifest = crd_manifest()
    manifest["spec"]["versions"][0]["schema"] = {
        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    }
    return manifest


def test_bad_custom_resources_are_rejected_without_a_scale_write(make_cluster: Any) -> None:
    cluster = make_cluster(constant_load(25.0), crds=[unvalidated_crd()])
    cluster.wait_for_data()
    op = cluster.operator("op-a")
    log_path = Path(op.config.log_file)
    before = cluster.replicas()
    cluster.create("inverted", fast_spec(minReplicas=7, maxReplicas=3))  # schema + CEL rule
    cluster.create("nosuch", fast_spec(policy="nosuch"))  # schema-valid, unknown policy
    bad_ref = fast_spec()
    bad_ref["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "Web_App"}
    cluster.create("badref", bad_ref)

    def invalid(name: str) -> dict[str, Any] | None:
        conditions = {c["type"]: c for c in (cluster.get(name).get("status") or {}).get("conditions", [])}
        spec_valid = conditions.get("SpecValid")
        return spec_valid if spec_valid and spec_valid["status"] == "False" else None

    messages = {
        name: wait_until(lambda n=name: invalid(n), 20, f"{name} rejected")["message"]
        for name in ("inverted", "nosuch", "badref")
    }
    assert "minReplicas must be less than or equal to maxReplicas" in messages["inverted"]
    assert "spec.policy" in messages["nosuch"] and "nosuch" in messages["nosuch"]
    assert "spec.scaleTargetRef.name" in messages["badref"]
    for name in messages:
        scaling = {c["type"]: c for c in cluster.get(name)["status"]["conditions"]}["ScalingActive"]
        assert scaling["status"] == "False" and scaling["reason"] == "InvalidSpec"
        warnings = [e for e in cluster.events(name) if e.reason == "InvalidSpec"]
        assert len(warnings) == 1 and warnings[0].type == "Warning"  # once, not every period
    time.sleep(1.0)
    assert decisions(log_path) == []  # nothing decided, nothing written
    assert cluster.replicas() == before

    # deleting one: kopf stops its daemon and lifts the finalizer, the object goes away
    from kubernetes.client.exceptions import ApiException

    assert "rlscale.io/operator" in cluster.get("badref")["metadata"]["finalizers"]
    cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "badref")

    def gone() -> bool:
        try:
            cluster.get("badref")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, 20, "the deleted CR to go")

    # fixing the spec brings the autoscaler to life
    fixed = copy.deepcopy(cluster.get("inverted"))
    fixed["spec"]["minReplicas"] = 1
    cluster.custom.replace_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "inverted", fixed)
    wait_until(lambda: len(decisions(log_path)) >= 3, 20, "decisions after the fix")
    conditions = {c["type"]: c for c in cluster.get("inverted")["status"]["conditions"]}
    assert conditions["SpecValid"]["status"] == "True"
    assert cluster.get("inverted")["status"]["decisions"] >= 1


def test_two_operator_replicas_only_the_leader_acts(make_cluster: Any) -> None:
    """Two replicas at once (one in this process, one the real ``rlscale operator``
    command): one holds the Lease and acts, the other decides and writes nothing; when the
    leader dies without releasing the Lease, the other takes over once it expires; a clean
    SIGTERM releases it."""
    from kubernetes import client

    cluster = make_cluster(DelayedLoad(low_rps=4.0, peak_rps=45.0, period_s=10_000.0))
    cluster.wait_for_data()
    coordination = client.CoordinationV1Api(cluster.custom.api_client)

    def holder() -> str | None:
        return coordination.read_namespaced_lease("rlscale-operator", NAMESPACE).spec.holder_identity

    a = cluster.operator("op-a", release_on_exit=False)
    wait_until(lambda: a.is_leader, 10, "op-a to lead")
    b_log = cluster.tmp_path / "op-b.jsonl"
    b_cmd = [
        sys.executable, "-m", "rlscale.cli.main", "operator",
        "--namespace", NAMESPACE, "--kubeconfig", str(cluster.kubeconfig), "--prometheus", cluster.prom.url,
        "--identity", "op-b", "--lease-duration", "2", "--time-scale", str(SPEEDUP),
        "--no-scanning", "--log-file", str(b_log),
    ]  # fmt: skip
    b = subprocess.Popen(b_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cluster.create("web", fast_spec())
        a_log = Path(a.config.log_file)
        wait_until(lambda: len(decisions(a_log)) >= 8, 30, "the leader's decisions")
        assert b.poll() is None, b.stdout.read() if b.stdout else ""
        assert a.is_leader and holder() == "op-a"
        assert decisions(b_log) == []  # the follower decided nothing

        a.stop()  # a "crash": the lease is not released
        stopped_at = time.time()
        a_count = len(decisions(a_log))
        wait_until(lambda: holder() == "op-b", 20, "op-b to take over")
        wait_until(lambda: len(decisions(b_log)) >= 4, 20, "the new leader's decisions")
        assert len(decisions(a_log)) == a_count  # the old leader is gone for good
        assert coordination.read_namespaced_lease("rlscale-operator", NAMESPACE).spec.lease_transitions >= 1
        b_times = [datetime.fromisoformat(r["time"]).timestamp() for r in decisions(b_log)]
        assert min(b_times) > stopped_at  # never two deciders at once
        status = cluster.get("web")["status"]
        assert status["desiredReplicas"] == cluster.replicas()
    finally:
        b.send_signal(signal.SIGTERM)
        output = b.communicate(timeout=30)[0]
    assert b.returncode == 0, output
    assert holder() is None  # released on a clean stop: a successor need not wait
