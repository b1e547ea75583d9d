"""The RLAutoscaler CRD, its Python-side validation, and the deploy/ manifests."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from rlscale.controller import crd
from rlscale.controller.crd import RLAutoscalerSpec, SpecError, validate_spec

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

VALID: dict[str, Any] = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 2,
    "maxReplicas": 8,
    "policy": "learned:/models/p.onnx",
    "slo": {"latencySeconds": 0.25},
    "metrics": {"prometheusUrl": "http://prometheus:9090", "queries": {"requestRate": "sum(rate(x[1m]))"}},
    "intervalSeconds": 5,
    "dryRun": True,
}


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_crd_yaml_is_generated_from_the_module() -> None:
    assert _load_all(DEPLOY / "crd.yaml") == [crd.crd_manifest()], (
        "deploy/crd.yaml is stale: python -m rlscale.controller.crd > deploy/crd.yaml"
    )


def test_crd_identity_and_shape() -> None:
    manifest = crd.crd_manifest()
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "rlautoscalers.rlscale.io"
    assert spec["group"] == "rlscale.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "RLAutoscaler" and spec["names"]["plural"] == "rlautoscalers"
    assert spec["names"]["shortNames"] == ["rla"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Min"] == ".spec.minReplicas" and columns["Max"] == ".spec.maxReplicas"
    assert columns["Desired"] == ".status.desiredReplicas"
    assert columns["Last decision"] == ".status.lastDecision.summary"
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert schema["x-kubernetes-validations"][0]["rule"] == crd.SPEC_RULES[0].rule
    assert {"scaleTargetRef", "maxReplicas", "slo"} <= set(schema["required"])


def test_valid_spec_parses_with_defaults() -> None:
    parsed = RLAutoscalerSpec.from_spec(VALID).settings
    assert parsed["deployment"] == "web" and (parsed["min_replicas"], parsed["max_replicas"]) == (2, 8)
    assert parsed["dry_run"] is True and parsed["interval_s"] == 5.0
    assert parsed["metric_queries"] == {"request_rate_rps": "sum(rate(x[1m]))"}
    minimal = RLAutoscalerSpec.from_spec(
        {"scaleTargetRef": VALID["scaleTargetRef"], "maxReplicas": 3, "slo": {"latencySeconds": 1}}
    ).settings
    assert minimal["min_replicas"] == 1 and minimal["policy"] == "hpa" and minimal["interval_s"] == 15.0
    assert minimal["stabilization_window_s"] == 300.0 and minimal["fallback_hpa"] is True


def _with(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node = spec
    for p in parents:
        node = node.setdefault(p, {})
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return spec


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("minReplicas", 9, "minReplicas must be less than or equal to maxReplicas"),
        ("minReplicas", -1, "spec.minReplicas: -1 is less than the minimum of 0"),
        ("minReplicas", 1.5, "spec.minReplicas"),
        ("maxReplicas", 0, "spec.maxReplicas: 0 is less than the minimum of 1"),
        ("maxReplicas", _DELETE, "'maxReplicas' is a required property"),
        ("scaleTargetRef.name", "Web_1", "spec.scaleTargetRef.name"),
        ("scaleTargetRef.kind", "StatefulSet", "spec.scaleTargetRef.kind"),
        ("scaleTargetRef.apiVersion", _DELETE, "'apiVersion' is a required property"),
        ("policy", "hpa target=1", "spec.policy"),
        ("slo.latencySeconds", 0, "spec.slo.latencySeconds"),
        ("slo.latencySeconds", "fast", "spec.slo.latencySeconds"),
        ("metrics.queries.requestRate", 3, "spec.metrics.queries.requestRate"),
        ("metrics.queries.requestRat", "sum(x)", "'requestRat' was unexpected"),
        ("metrics.prometheusUrl", "prometheus:9090", "spec.metrics.prometheusUrl"),
        ("intervalSeconds", 0.5, "spec.intervalSeconds: 0.5 is less than the minimum of 1"),
        ("dryRun", "yes", "spec.dryRun: 'yes' is not of type 'boolean'"),
        ("minReplica", 1, "'minReplica' was unexpected"),
    ],
)
def test_bad_specs_are_rejected_naming_the_field(path: str, value: Any, expected: str) -> None:
    problems = validate_spec(_with(path, value))
    assert any(expected in p for p in problems), problems
    with pytest.raises(SpecError, match="RLAutoscaler ns/x: "):
        RLAutoscalerSpec.from_spec(_with(path, value), "ns/x")


def test_spec_must_be_an_object() -> None:
    assert validate_spec(None) == ["spec must be an object, got NoneType"]


def test_crd_defaults_agree_with_the_controller() -> None:
    """The CR's defaults are those of `rlscale run` (one behaviour whichever way it runs)."""
    from rlscale.controller import run_config
    from rlscale.controller.app import RunConfig
    from rlscale.controller.metrics_source import SIGNALS, MetricQueries

    assert set(run_config.SIGNAL_NAMES) <= set(SIGNALS)
    assert set(run_config.QUERY_FIELDS.values()) == set(MetricQueries.__dataclass_fields__) - {"window"}
    assert MetricQueries().window == run_config.DEFAULT_WINDOW
    run = RunConfig(
        namespace="d", deployment="w", prometheus_url="http://p:9090", min_replicas=1, max_replicas=3
    )
    parsed = RLAutoscalerSpec.from_spec(
        {"scaleTargetRef": VALID["scaleTargetRef"], "maxReplicas": 3, "slo": {"latencySeconds": 1}}
    ).settings
    from_cr = RunConfig(namespace="d", prometheus_url="http://p:9090", **{**parsed, "deployment": "w"})
    assert from_cr.queries() == {"window": "1m"} and run.queries() == {}
    assert from_cr == replace(run, slo_latency_s=1.0, metric_window="1m")


# ------------------------------------------------------------------------------ deploy/


def _docs() -> dict[str, list[dict[str, Any]]]:
    return {p.name: _load_all(p) for p in sorted(DEPLOY.glob("*.yaml"))}


def test_every_manifest_loads_with_the_expected_kinds() -> None:
    kinds = {name: sorted(d["kind"] for d in docs) for name, docs in _docs().items()}
    assert kinds == {
        "crd.yaml": ["CustomResourceDefinition"],
        "example-rlautoscaler.yaml": ["RLAutoscaler"],
        "kustomization.yaml": ["Kustomization"],
        "namespace.yaml": ["Namespace"],
        "operator.yaml": ["Deployment", "Service"],  # the Service exposes /metrics to a ServiceMonitor
        "rbac.yaml": ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"],
        "sample-service.yaml": ["Deployment", "Service"],
    }
    kustomization = _docs()["kustomization.yaml"][0]
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource


def _rules(doc: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in doc["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_rbac_is_the_minimal_set() -> None:
    docs = {d["kind"]: d for d in _docs()["rbac.yaml"]}
    assert _rules(docs["Role"]) == {
        ("apps", "deployments"): {"get", "list", "watch"},
        ("apps", "deployments/scale"): {"get", "patch"},
        ("rlscale.io", "rlautoscalers"): {"get", "list", "watch", "patch"},
        ("rlscale.io", "rlautoscalers/status"): {"get", "patch", "update"},
        ("", "events"): {"create", "patch"},
        ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    }
    assert _rules(docs["ClusterRole"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}
    }
    sa = docs["ServiceAccount"]["metadata"]["name"]
    for binding in (docs["RoleBinding"], docs["ClusterRoleBinding"]):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "rlscale"}]
    assert docs["RoleBinding"]["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    assert docs["ClusterRoleBinding"]["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]


def test_operator_deployment_is_locked_down() -> None:
    deployment = next(d for d in _docs()["operator.yaml"] if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] >= 2  # leader election makes a standby useful
    assert pod["serviceAccountName"] == "rlscale-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and container["resources"]["limits"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RLSCALE_IDENTITY"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "--kubeconfig=in-cluster" in container["args"]


def test_example_custom_resource_validates_against_the_crd() -> None:
    (cr,) = _docs()["example-rlautoscaler.yaml"]
    assert cr["apiVersion"] == crd.API_VERSION and cr["kind"] == crd.KIND
    assert validate_spec(cr["spec"]) == []
    sample = {d["kind"]: d for d in _docs()["sample-service.yaml"]}
    assert cr["spec"]["scaleTargetRef"]["name"] == sample["Deployment"]["metadata"]["name"]
    assert cr["metadata"]["namespace"] == sample["Deployment"]["metadata"]["namespace"]


def test_sample_service_manifest_has_probe_and_resources() -> None:
    sample = {d["kind"]: d for d in _docs()["sample-service.yaml"]}
    (container,) = sample["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]
    assert sample["Service"]["spec"]["selector"] == sample["Deployment"]["spec"]["selector"]["matchLabels"]


def test_dockerfile_builds_the_torch_free_live_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'pip install ".[live]"' in text
    assert "torch" not in text.replace('python -c "import torch"', "").replace("No torch", "")
    lines = [line.strip() for line in text.splitlines()]
    users = [line for line in lines if line.startswith("USER ")]
    assert users and users[-1] != "USER root" and not users[-1].startswith("USER 0")
    assert lines[-1] == 'ENTRYPOINT ["rlscale", "operator"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
