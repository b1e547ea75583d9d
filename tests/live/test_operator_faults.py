"""Operator faults (issue 14): a deleted RLAutoscaler stops scaling (case 1): its loop ends
when the CR is gone or being deleted, no scale write follows, and the operator stops cleanly.

Real kopf against the emulated API server with the default controller wiring. The CR needs
no metrics (``requiredSignals: []``, a ``static`` policy), so every period would write its
count; Prometheus is a closed port, so nothing else is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlscale.controller.crd import GROUP, PLURAL, VERSION, crd_manifest
from rlscale.controller.decision_log import read_decision_log
from rlscale.controller.operator import Operator
from rlscale.controller.operator_config import OperatorConfig
from rlscale.emulator import EmulatedService, constant_load
from rlscale.emulator.custom import served_versions
from rlscale.emulator.services import fast_params

pytest.importorskip("kopf")

NAMESPACE = "default"
RLAUTOSCALERS = served_versions(crd_manifest())[0].rtype  # as the emulator serves it
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: refused at once


def static_spec(replicas: int) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "policy": f"static:replicas={replicas}",
        "slo": {"latencySeconds": 0.5},
        "metrics": {"requiredSignals": [], "timeoutSeconds": 0.2},
        "behavior": {"scaleDownStabilizationSeconds": 0, "onPolicyFailure": "hold"},
        "intervalSeconds": 1,
    }


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def cluster(request: pytest.FixtureRequest, emulator_factory: Any, tmp_path: Path) -> Iterator[Any]:
    """The emulator (with the CRD, or ``@pytest.mark.crds([...])``'s), API clients, and the
    operators a test starts (stopped before the emulator)."""
    from kubernetes import client, config

    marker = request.node.get_closest_marker("crds")
    emu = emulator_factory(
        [EmulatedService(name="web", params=fast_params("web"), load=constant_load(5.0), initial_replicas=2)],
        speedup=4.0,
        **({"crds": marker.args[0]} if marker else {}),
    )
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    operators: list[Operator] = []
    yield emu, kubeconfig, client.CustomObjectsApi(api), client.AppsV1Api(api), operators
    for op in operators:  # before the emulator stops
        op.stop(timeout_s=15)


def start_operator(kubeconfig: Path, tmp_path: Path, operators: list[Operator]) -> Operator:
    config = OperatorConfig(
        namespace=NAMESPACE,
        kubeconfig=str(kubeconfig),
        prometheus_url=CLOSED_PORT_URL,
        identity="op-del",
        lease_duration_s=2,
        time_scale=4.0,
        log_file=str(tmp_path / "decisions.jsonl"),
        scanning=False,
    )
    operators.append(Operator(config))
    return operators[-1].start()


def scale_of(apps: Any) -> int:
    return int(apps.read_namespaced_deployment_scale("web", NAMESPACE).spec.replicas)


def set_scale(apps: Any, replicas: int) -> None:
    apps.patch_namespaced_deployment_scale("web", NAMESPACE, {"spec": {"replicas": replicas}})


def patched(log: Path) -> int:
    return sum(1 for r in read_decision_log(log) if r.get("patched")) if log.exists() else 0


def test_deleting_the_custom_resource_ends_its_loop(cluster: Any, tmp_path: Path) -> None:
    _emu, kubeconfig, custom, apps, operators = cluster
    op = start_operator(kubeconfig, tmp_path, operators)
    log = Path(op.config.log_file)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RLAutoscaler",
        "metadata": {"name": "web"},
        "spec": static_spec(4),
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
    wait_until(lambda: scale_of(apps) == 4, 20, "the operator to scale to 4")
    set_scale(apps, 9)  # a manual scale is reverted while the CR exists
    wait_until(lambda: scale_of(apps) == 4, 20, "the operator to revert the manual scale")

    custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "web")
    wait_until(lambda: "default/web" not in op.targets, 20, "the loop of the deleted CR to end")
    writes = patched(log)
    set_scale(apps, 9)
    time.sleep(1.5)  # six periods of the (4x faster) loop
    assert scale_of(apps) == 9  # nobody reverts it: the deleted CR decides nothing
    assert patched(log) == writes
    op.stop(timeout_s=15)
    assert not op.runner.alive and op.error is None  # a clean stop


def test_a_cr_removed_behind_the_operators_back_stops_its_loop(cluster: Any, tmp_path: Path) -> None:
    """The API server drops the object without a watch event the operator sees (etcd restore,
    a lost DELETED event): the next period finds it gone and ends the loop, writing nothing."""
    emu, kubeconfig, custom, apps, operators = cluster
    op = start_operator(kubeconfig, tmp_path, operators)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RLAutoscaler",
        "metadata": {"name": "web"},
        "spec": static_spec(5),
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
    wait_until(lambda: scale_of(apps) == 5, 20, "the operator to scale to 5")
    key = emu.store._key(RLAUTOSCALERS, NAMESPACE, "web")
    emu.call(lambda: emu.store._objects.pop(key))  # gone, and no DELETED event
    set_scale(apps, 8)
    wait_until(lambda: "default/web" not in op.targets, 20, "the loop of the vanished CR to end")
    time.sleep(1.0)
    assert scale_of(apps) == 8
    op.stop(timeout_s=15)
    assert not op.runner.alive and op.error is None


def test_shutdown_with_several_live_custom_resources_is_clean(cluster: Any, tmp_path: Path) -> None:
    _emu, kubeconfig, custom, apps, operators = cluster
    op = start_operator(kubeconfig, tmp_path, operators)
    for name in ("a", "b", "c"):
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RLAutoscaler",
            "metadata": {"name": name},
            "spec": static_spec(3),
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
    wait_until(lambda: len(op.targets) == 3 and scale_of(apps) == 3, 20, "three loops at work")
    op.stop(timeout_s=20)
    assert not op.runner.alive and op.error is None
    assert op.targets == {}  # every loop ended and let go of its controller


def schemaless_crd() -> dict[str, Any]:
    """The RLAutoscaler CRD of a cluster whose CRD takes anything (it predates the schema)."""
    manifest = crd_manifest()
    manifest["spec"]["versions"][0]["schema"] = {
        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    }
    return manifest


@pytest.mark.crds([schemaless_crd()])
def test_a_custom_resource_whose_spec_is_not_an_object_is_reported(cluster: Any, tmp_path: Path) -> None:
    """``spec: "x"`` (which only a CRD without a schema lets through) gets an InvalidSpec
    status naming it; the daemon does not die on it (it did: TypeError), nothing is scaled."""
    _emu, kubeconfig, custom, apps, operators = cluster
    op = start_operator(kubeconfig, tmp_path, operators)
    before = scale_of(apps)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RLAutoscaler",
        "metadata": {"name": "bad"},
        "spec": "x",
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)

    def spec_valid() -> dict[str, Any] | None:
        status = (
            custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "bad").get("status") or {}
        )
        return next((c for c in status.get("conditions", []) if c["type"] == "SpecValid"), None)

    condition = wait_until(spec_valid, 20, "an InvalidSpec status")
    assert condition["status"] == "False" and "spec must be an object" in condition["message"]
    assert scale_of(apps) == before and op.error is None
