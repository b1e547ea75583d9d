"""deploy/: the Helm chart renders what ``kubectl apply -k deploy/`` applies; the monitoring
(PrometheusRule groups, ServiceMonitor, Grafana dashboard) reads only metrics rlscale exports
and its rules pass ``promtool``; the emulator (via the real kubectl) accepts the rendered chart."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_subset import render_chart

from rlscale.controller.telemetry import ControllerMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "rlscale"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
ALL_ON = {
    "monitoring": {k: {"enabled": True} for k in ("serviceMonitor", "prometheusRule", "grafanaDashboard")}
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (kubectl ships with the image, promtool with Debian's prometheus)"
        )
    return path


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def exported_metric_names() -> set[str]:
    names = set()
    for family in ControllerMetrics().registry.collect():
        names.add(family.name)
        names |= {
            f"{family.name}_total",
            f"{family.name}_bucket",
            f"{family.name}_count",
            f"{family.name}_sum",
        }
    return names


def _metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\brlscale_[a-z_]+", expr))


def test_the_chart_renders_what_kustomize_applies() -> None:
    kustomized = [d for d in yaml.safe_load_all(subprocess.run(
        [_tool("kubectl"), "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
    ).stdout) if d]  # fmt: skip
    rendered = render_chart(CHART, namespace="rlscale")
    by_key = {_key(o): o for o in rendered}
    expected = {_key(o): o for o in kustomized if o["kind"] != "Namespace"}  # helm --create-namespace
    assert set(by_key) == set(expected)
    for key, obj in expected.items():
        assert by_key[key] == obj, key


def test_chart_values_reach_the_objects() -> None:
    rendered = render_chart(
        CHART, namespace="ops", values={"replicas": 3, "metricsPort": 9200, "image": {"tag": "9.9"}, **ALL_ON}
    )
    kinds = {_key(o) for o in rendered}
    assert {("ServiceMonitor", "rlscale-operator"), ("PrometheusRule", "rlscale-operator")} <= kinds
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 3 and deployment["metadata"]["namespace"] == "ops"
    assert container["image"].endswith(":9.9") and "--metrics-port=9200" in container["args"]
    assert container["ports"][0]["containerPort"] == 9200
    dashboard = next(o for o in rendered if o["kind"] == "ConfigMap")
    assert json.loads(dashboard["data"]["grafana-dashboard.json"]) == json.loads(
        (DEPLOY / "monitoring/grafana-dashboard.json").read_text()
    )
    rule = next(o for o in rendered if o["kind"] == "PrometheusRule")
    kustomize_rule = yaml.safe_load((DEPLOY / "monitoring/prometheusrule.yaml").read_text())
    assert rule["spec"] == kustomize_rule["spec"]  # one set of alerts, two ways to install it
    monitor = next(o for o in rendered if o["kind"] == "ServiceMonitor")
    kustomize_monitor = yaml.safe_load((DEPLOY / "monitoring/servicemonitor.yaml").read_text())
    assert monitor["spec"]["endpoints"] == kustomize_monitor["spec"]["endpoints"]


def test_alert_rules_pass_promtool_and_read_exported_metrics() -> None:
    result = subprocess.run(
        [_tool("promtool"), "check", "rules", str(CHART / "files/prometheus-rules.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "SUCCESS: 5 rules found" in result.stdout, result.stdout + result.stderr
    groups = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())["groups"]
    alerts = {r["alert"]: r["expr"] for g in groups for r in g["rules"]}
    assert {"RLScaleFallbackActive", "RLScaleStaleMetrics", "RLScaleSLOBudgetBurn", "RLScaleNoLeader"} <= set(
        alerts
    )
    exported = exported_metric_names()
    for name, expr in alerts.items():
        assert _metrics_in(expr) and _metrics_in(expr) <= exported, (name, _metrics_in(expr) - exported)


def test_dashboard_panels_read_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "monitoring/grafana-dashboard.json").read_text())
    exported = exported_metric_names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = set().union(*(_metrics_in(e) for e in exprs))
    assert used <= exported, used - exported
    assert {"rlscale_proposed_replicas", "rlscale_slo_objective", "rlscale_guard_interventions_total"} <= used
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


#: Minimal stand-ins for the Prometheus operator's CRDs (a cluster running it has the full ones).
def _prometheus_operator_crds() -> list[dict[str, Any]]:
    def crd(kind: str, plural: str) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.monitoring.coreos.com"},
            "spec": {
                "group": "monitoring.coreos.com",
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }

    return [crd("ServiceMonitor", "servicemonitors"), crd("PrometheusRule", "prometheusrules")]


def test_the_emulator_accepts_the_rendered_chart(emulator_factory: Any, tmp_path: Path) -> None:
    kubectl = _tool("kubectl")
    emu = emulator_factory(crds=_prometheus_operator_crds(), auto_step=False)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    rendered = render_chart(CHART, namespace="rlscale", values=ALL_ON)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered, sort_keys=False))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert run("create", "namespace", "rlscale").returncode == 0
    applied = run("apply", "--validate=strict", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count(" created") == len(rendered), applied.stdout
    listed = run(
        "get",
        "deploy,sa,svc,role,rolebinding,servicemonitor,prometheusrule,cm",
        "-n",
        "rlscale",
        "-o",
        "name",
    )
    assert listed.returncode == 0, listed.stderr
    assert {
        "deployment.apps/rlscale-operator",
        "serviceaccount/rlscale-operator",
        "service/rlscale-operator-metrics",
        "servicemonitor.monitoring.coreos.com/rlscale-operator",
        "prometheusrule.monitoring.coreos.com/rlscale-operator",
        "configmap/rlscale-grafana-dashboard",
    } <= set(listed.stdout.split())
    assert run("get", "crd", "rlautoscalers.rlscale.io").returncode == 0
