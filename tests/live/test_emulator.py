"""The emulated cluster follows the Kubernetes API contract as the official client and kopf
see it, and its pods and metrics follow the simulated service."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from rlscale.emulator import EmulatedService, Emulator, constant_load, fast_params
from rlscale.emulator.resources import merge_patch, strategic_merge_patch
from rlscale.emulator.selectors import parse_label_selector
from rlscale.emulator.services import rise_and_fall_load, trace_load


def _clients(
    kubeconfig: Path,
) -> tuple[client.AppsV1Api, client.CoreV1Api, client.CustomObjectsApi, client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    return (
        client.AppsV1Api(api_client),
        client.CoreV1Api(api_client),
        client.CustomObjectsApi(api_client),
        api_client,
    )


def _raw(
    emu: Emulator, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        emu.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {emu.token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(req, timeout=5, context=emu.client_ssl_context()) as rsp:
            return rsp.status, json.load(rsp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _wait(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# -- discovery --------------------------------------------------------------------------
def test_discovery_lists_groups_and_resources(emulator: Emulator) -> None:
    status, version = _raw(emulator, "GET", "/version")
    assert status == 200 and version["major"] == "1"
    _, groups = _raw(emulator, "GET", "/apis")
    names = {g["name"] for g in groups["groups"]}
    assert {"apps", "coordination.k8s.io", "events.k8s.io", "apiextensions.k8s.io", "rlscale.io"} <= names
    _, apps = _raw(emulator, "GET", "/apis/apps/v1")
    by_name = {r["name"]: r for r in apps["resources"]}
    assert (
        by_name["deployments/scale"]["kind"] == "Scale" and "patch" in by_name["deployments/scale"]["verbs"]
    )
    _, custom = _raw(emulator, "GET", "/apis/rlscale.io/v1alpha1")
    assert {r["name"] for r in custom["resources"]} == {"rlautoscalers", "rlautoscalers/status"}
    _, core = _raw(emulator, "GET", "/api/v1")
    assert {"pods", "events", "namespaces"} <= {r["name"] for r in core["resources"]}


def test_unauthenticated_requests_are_rejected(emulator: Emulator) -> None:
    req = urllib.request.Request(emulator.url + "/apis/apps/v1/deployments")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5, context=emulator.client_ssl_context())
    assert info.value.code == 401


# -- deployments and scale ----------------------------------------------------------------
def test_scale_get_and_patch_through_official_client(emulator: Emulator, kubeconfig: Path) -> None:
    apps, _, _, _ = _clients(kubeconfig)
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=web"
    patched = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3
    assert int(patched.metadata.resource_version) > int(scale.metadata.resource_version)
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.replicas == 3
    assert dep.metadata.generation >= 2
    listed = apps.list_namespaced_deployment("default")
    assert [d.metadata.name for d in listed.items] == ["web"]
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})


def test_stale_resource_version_is_a_conflict(emulator: Emulator, kubeconfig: Path) -> None:
    apps, _, _, _ = _clients(kubeconfig)
    scale = apps.read_namespaced_deployment_scale("web", "default")
    stale_rv = scale.metadata.resource_version
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    body = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": stale_rv},
        "spec": {"replicas": 5},
    }
    status, error = _raw(emulator, "PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", body)
    assert status == 409
    assert error["kind"] == "Status" and error["reason"] == "Conflict" and error["code"] == 409
    # the official client raises it as an ApiException with status 409
    scale_obj = client.V1Scale(
        metadata=client.V1ObjectMeta(name="web", namespace="default", resource_version=stale_rv),
        spec=client.V1ScaleSpec(replicas=5),
    )
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment_scale("web", "default", scale_obj)
    assert info.value.status == 409
    # a merge patch asserting a stale resourceVersion conflicts too; a fresh one succeeds
    status, _ = _raw(
        emulator,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"metadata": {"resourceVersion": stale_rv}, "spec": {"replicas": 5}},
        "application/merge-patch+json",
    )
    assert status == 409
    fresh = apps.read_namespaced_deployment_scale("web", "default")
    fresh.spec.replicas = 2
    assert apps.replace_namespaced_deployment_scale("web", "default", fresh).spec.replicas == 2


def test_json_patch_and_invalid_and_missing(emulator: Emulator, kubeconfig: Path) -> None:
    apps, _, _, _ = _clients(kubeconfig)
    status, scale = _raw(
        emulator,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        [{"op": "replace", "path": "/spec/replicas", "value": 4}],
        "application/json-patch+json",
    )
    assert status == 200 and scale["spec"]["replicas"] == 4
    status, error = _raw(
        emulator,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"spec": {"replicas": -1}},
        "application/merge-patch+json",
    )
    assert status == 422 and error["reason"] == "Invalid" and "spec.replicas" in error["message"]
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment_scale("nope", "default")
    assert info.value.status == 404
    assert json.loads(info.value.body)["reason"] == "NotFound"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})


def test_injected_faults_hit_the_next_requests(emulator: Emulator, kubeconfig: Path) -> None:
    apps, _, _, _ = _clients(kubeconfig)
    emulator.faults.add(r"/deployments/web/scale$", status=500, count=2, method="GET")
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            apps.read_namespaced_deployment_scale("web", "default")
        assert info.value.status == 500
    assert apps.read_namespaced_deployment_scale("web", "default").spec.replicas >= 1
    # a hanging apiserver: the client times out (urllib3 retries reads, so hang every request)
    emulator.faults.add(r"/deployments/web/scale$", status=None, delay_s=1.0, method="GET", count=None)
    with pytest.raises(Exception, match=r"(?i)timed? ?out"):
        apps.read_namespaced_deployment_scale("web", "default", _request_timeout=0.2)
    emulator.faults.clear()
    assert apps.read_namespaced_deployment_scale("web", "default").spec.replicas >= 1


# -- pods -------------------------------------------------------------------------------
def test_pods_are_pending_then_ready_after_startup(emulator_factory: Any) -> None:
    emu = emulator_factory(auto_step=False)  # stepped by hand: deterministic
    status, _ = _raw(
        emu,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"spec": {"replicas": 4}},
        "application/merge-patch+json",
    )
    assert status == 200

    def phases() -> list[str]:
        _, pods = _raw(emu, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        return sorted(p["status"]["phase"] for p in pods["items"])

    assert phases() == ["Pending", "Pending", "Running", "Running"]
    emu.step()  # 1 s of the 2 s start-up
    assert phases() == ["Pending", "Pending", "Running", "Running"]
    assert emu.get_deployment("web")["status"]["readyReplicas"] == 2
    emu.step()
    assert phases() == ["Running"] * 4
    dep = emu.get_deployment("web")
    assert dep["status"]["readyReplicas"] == 4 and dep["status"]["replicas"] == 4
    _, pods = _raw(emu, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
    ready = [c["status"] for p in pods["items"] for c in p["status"]["conditions"] if c["type"] == "Ready"]
    assert ready == ["True"] * 4
    # scaling down removes pods at once; unrelated selectors match nothing
    _raw(
        emu,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"spec": {"replicas": 1}},
        "application/merge-patch+json",
    )
    assert phases() == ["Running"]
    _, none = _raw(emu, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dother")
    assert none["items"] == []


def test_ready_pods_serve_the_load(emulator_factory: Any) -> None:
    svc = EmulatedService("web", fast_params("web"), constant_load(25.0), initial_replicas=2)
    emu = emulator_factory([svc], auto_step=False)
    emu.step(3)
    snap = emu.snapshot()["default/web"]
    # 2 pods x 10 req/s < 25 req/s: saturated, a backlog builds
    assert snap["served_rps"] == pytest.approx(20.0)
    assert snap["backlog_requests"] > 0
    _raw(
        emu,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        {"spec": {"replicas": 4}},
        "application/merge-patch+json",
    )
    emu.step(6)
    snap = emu.snapshot()["default/web"]
    assert snap["ready_replicas"] == 4
    assert snap["served_rps"] == pytest.approx(25.0)
    assert snap["backlog_requests"] == pytest.approx(0.0)
    assert 0.0 < snap["latency_p95_s"] < 1.0


# -- custom resources, watch, leases, events, CRDs ----------------------------------------
def _rla(name: str, replicas_max: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "rlscale.io/v1alpha1",
        "kind": "RLAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": replicas_max,
            "slo": {"latencySeconds": 0.5},
        },
    }


def test_rlautoscaler_crud_status_and_watch(emulator: Emulator, kubeconfig: Path) -> None:
    _, _, custom, _ = _clients(kubeconfig)
    args = ("rlscale.io", "v1alpha1", "default", "rlautoscalers")
    listed = custom.list_namespaced_custom_object(*args)
    rv0 = listed["metadata"]["resourceVersion"]

    events: list[tuple[str, str]] = []

    def watch() -> None:
        req = urllib.request.Request(
            f"{emulator.url}/apis/rlscale.io/v1alpha1/namespaces/default/rlautoscalers"
            f"?watch=true&resourceVersion={rv0}&timeoutSeconds=5&allowWatchBookmarks=true",
            headers={"Authorization": f"Bearer {emulator.token}"},
        )
        with urllib.request.urlopen(req, timeout=10, context=emulator.client_ssl_context()) as rsp:
            for line in rsp:
                event = json.loads(line)
                if event["type"] != "BOOKMARK":
                    events.append((event["type"], event["object"]["metadata"]["name"]))
                if len(events) >= 4:
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    created = custom.create_namespaced_custom_object(*args, _rla("a"))
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
    patched = custom.patch_namespaced_custom_object(*args, "a", {"spec": {"maxReplicas": 8}})
    assert patched["spec"]["maxReplicas"] == 8 and patched["metadata"]["generation"] == 2
    status = custom.patch_namespaced_custom_object_status(*args, "a", {"status": {"desiredReplicas": 3}})
    assert status["status"] == {"desiredReplicas": 3}
    assert status["metadata"]["generation"] == 2  # status writes do not bump the generation
    # a spec write through the main resource cannot clobber the status subresource
    again = custom.patch_namespaced_custom_object(*args, "a", {"status": {"desiredReplicas": 99}})
    assert again["status"] == {"desiredReplicas": 3}
    custom.delete_namespaced_custom_object(*args, "a")
    thread.join(10)
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    # custom resources do not accept strategic merge patches (as on a real apiserver)
    custom.create_namespaced_custom_object(*args, _rla("b"))
    status_code, error = _raw(
        emulator,
        "PATCH",
        "/apis/rlscale.io/v1alpha1/namespaces/default/rlautoscalers/b",
        {"spec": {"maxReplicas": 3}},
        "application/strategic-merge-patch+json",
    )
    assert status_code == 415 and error["reason"] == "UnsupportedMediaType"
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object(*args, _rla("b"))
    assert info.value.status == 409 and json.loads(info.value.body)["reason"] == "AlreadyExists"
    custom.delete_namespaced_custom_object(*args, "b")


def test_watch_without_version_lists_first_and_old_version_is_gone(emulator_factory: Any) -> None:
    emu = emulator_factory(auto_step=False)
    _raw(emu, "POST", "/apis/rlscale.io/v1alpha1/namespaces/default/rlautoscalers", _rla("x"))
    req = urllib.request.Request(
        f"{emu.url}/apis/rlscale.io/v1alpha1/rlautoscalers?watch=1&timeoutSeconds=1",
        headers={"Authorization": f"Bearer {emu.token}"},
    )
    with urllib.request.urlopen(req, timeout=5, context=emu.client_ssl_context()) as rsp:
        lines = [json.loads(line) for line in rsp]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "x")]
    emu.store._log.extend([emu.store._log[-1]] * emu.store._log.maxlen)  # compact the history
    req = urllib.request.Request(
        f"{emu.url}/apis/rlscale.io/v1alpha1/rlautoscalers?watch=1&resourceVersion=1&timeoutSeconds=1",
        headers={"Authorization": f"Bearer {emu.token}"},
    )
    with urllib.request.urlopen(req, timeout=5, context=emu.client_ssl_context()) as rsp:
        lines = [json.loads(line) for line in rsp]
    assert lines[0]["type"] == "ERROR" and lines[0]["object"]["code"] == 410


def test_leases_follow_optimistic_concurrency(emulator: Emulator, kubeconfig: Path) -> None:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    coord = client.CoordinationV1Api(api_client)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="rlscale-leader"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = coord.create_namespaced_lease("default", lease)
    got = coord.read_namespaced_lease("rlscale-leader", "default")
    assert got.spec.holder_identity == "a"
    got.spec.holder_identity = "b"
    replaced = coord.replace_namespaced_lease("rlscale-leader", "default", got)
    assert replaced.spec.holder_identity == "b"
    # a second contender holding the old version loses
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as info:
        coord.replace_namespaced_lease("rlscale-leader", "default", created)
    assert info.value.status == 409
    with pytest.raises(ApiException) as info:
        coord.create_namespaced_lease("default", lease)
    assert info.value.status == 409
    coord.delete_namespaced_lease("rlscale-leader", "default")


def test_events_and_crds(emulator: Emulator, kubeconfig: Path) -> None:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    core = client.CoreV1Api(api_client)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="web."),
        involved_object=client.V1ObjectReference(kind="Deployment", name="web", namespace="default"),
        reason="Scaled",
        message="scaled to 3",
        type="Normal",
    )
    created = core.create_namespaced_event("default", event)
    assert created.metadata.name.startswith("web.")
    assert any(e.reason == "Scaled" for e in core.list_namespaced_event("default").items)
    ext = client.ApiextensionsV1Api(api_client)
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    assert _raw(emulator, "GET", widgets)[0] == 404  # not served before its CRD exists
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    ext.create_custom_resource_definition(crd)
    got = ext.read_custom_resource_definition("widgets.example.com")
    assert got.spec.names.kind == "Widget"
    assert {c.type: c.status for c in got.status.conditions} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert "widgets.example.com" in [c.metadata.name for c in ext.list_custom_resource_definition().items]
    assert _raw(emulator, "POST", widgets, {"metadata": {"name": "w"}, "size": 3})[0] == 201
    assert _raw(emulator, "GET", "/apis/example.com/v1")[1]["resources"][0]["name"] == "widgets"
    ext.delete_custom_resource_definition("widgets.example.com")
    assert _raw(emulator, "GET", widgets)[0] == 404
    assert "example.com" not in {g["name"] for g in _raw(emulator, "GET", "/apis")[1]["groups"]}


# -- metrics ----------------------------------------------------------------------------
def test_metrics_use_exporter_names_and_counters_grow(emulator_factory: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    emu = emulator_factory(auto_step=False)
    emu.step(2)

    def scrape() -> dict[str, list[Any]]:
        with urllib.request.urlopen(emu.metrics_url, timeout=5) as rsp:
            text = rsp.read().decode()
        return {f.name: f.samples for f in text_string_to_metric_families(text)}

    first = scrape()
    time.sleep(0.3)
    second = scrape()
    for name in (
        "container_cpu_usage_seconds",
        "container_memory_working_set_bytes",
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_ready",
        "kube_pod_container_resource_requests",
        "http_requests",
        "http_request_duration_seconds",
        "http_requests_dropped",
    ):
        assert name in first, name
    total = {s.name: s.value for s in first["http_requests"]}["http_requests_total"]
    total2 = {s.name: s.value for s in second["http_requests"]}["http_requests_total"]
    assert total2 > total  # interpolated between steps at 25 req/s
    assert (total2 - total) == pytest.approx(25.0 * 0.3, rel=0.5)
    cpu = [s for s in first["container_cpu_usage_seconds"] if s.name.endswith("_total")]
    assert len(cpu) == 2 and all(s.labels["namespace"] == "default" for s in cpu)
    buckets = [s for s in first["http_request_duration_seconds"] if s.name.endswith("_bucket")]
    values = [s.value for s in buckets]
    assert values == sorted(values) and buckets[-1].labels["le"] == "+Inf"
    requests = [s for s in first["kube_pod_container_resource_requests"] if s.labels["resource"] == "cpu"]
    assert {s.labels["unit"] for s in requests} == {"core"} and len(requests) == 2


def test_load_curves() -> None:
    wave = rise_and_fall_load(5.0, 25.0, period_s=60.0)
    assert wave(0.0) == pytest.approx(5.0) and wave(30.0) == pytest.approx(25.0)
    curve = trace_load([0.0, 10.0, 20.0], interval_s=10.0, peak_rps=40.0)
    assert curve(5.0) == pytest.approx(10.0) and curve(20.0) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="finite"):
        trace_load([1.0, float("nan")], interval_s=1.0)


def test_patch_helpers() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}
    merged = strategic_merge_patch(
        {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "1"}]},
        {"containers": [{"name": "y", "image": "2"}]},
    )
    assert merged == {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "2"}]}
    sel = parse_label_selector("app=web,tier in (a, b),!canary")
    assert sel({"app": "web", "tier": "a"}) and not sel({"app": "web", "tier": "c"})
    assert not sel({"app": "web", "tier": "a", "canary": "1"})
    with pytest.raises(ValueError, match="unable to parse"):
        parse_label_selector("app=web,(")
