"""``rlscale operator`` flags, and the pure pieces of the operator (status, conditions)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rlscale.controller.crd import RLAutoscalerSpec, SpecError
from rlscale.controller.operator_config import OperatorConfig, run_config_for
from rlscale.controller.operator_status import (
    decision_conditions,
    decision_status,
    merge_conditions,
    summarize,
)
from rlscale.core.clock import ManualClock, ScaledClock
from rlscale.core.decision import Decision, Reason

pytest.importorskip("kopf")


def test_help_documents_every_option() -> None:
    from rlscale.cli.main import app

    result = CliRunner().invoke(app, ["operator", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for flag in (
        "--namespace",
        "--kubeconfig",
        "--prometheus",
        "--identity",
        "--lease-duration",
        "--time-scale",
        "--log-file",
    ):
        assert flag in result.output


def test_bad_flags_are_named(tmp_path) -> None:
    from rlscale.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "operator",
            "--lease-duration",
            "1",
            "--kubeconfig",
            str(tmp_path / "nope"),
            "--prometheus",
            "prom:9090",
        ],
    )
    assert result.exit_code == 2
    assert "--lease-duration must be >= 2" in result.output
    assert "--kubeconfig" in result.output and "no such file" in result.output
    assert "--prometheus must be an http(s) URL" in result.output


SPEC = {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 2,
    "maxReplicas": 6,
    "slo": {"latencySeconds": 0.3},
    "metrics": {
        "queries": {"requestRate": 'sum(rate(my_requests{ns="$namespace"}[$window]))'},
        "window": "30s",
    },
    "behavior": {"maxScaleDownPods": 1, "onPolicyFailure": "hold"},
    "dryRun": True,
}


def test_a_custom_resource_becomes_the_run_config_of_rlscale_run() -> None:
    run = run_config_for(
        RLAutoscalerSpec.from_spec(SPEC), "shop", OperatorConfig(prometheus_url="http://prom:9090")
    )
    assert (run.namespace, run.deployment, run.min_replicas, run.max_replicas) == ("shop", "web", 2, 6)
    assert run.prometheus_url == "http://prom:9090" and run.dry_run is True and run.fallback_hpa is False
    assert run.slo_latency_s == 0.3 and run.max_step_down_pods == 1
    assert run.metric_queries == {"request_rate_rps": SPEC["metrics"]["queries"]["requestRate"]}
    assert run.metric_window == "30s" and run.queries()["window"] == "30s"
    with pytest.raises(SpecError, match=r"spec\.metrics\.prometheusUrl: unset"):
        run_config_for(RLAutoscalerSpec.from_spec(SPEC), "shop", OperatorConfig())
    bad_query = {
        **SPEC,
        "metrics": {"prometheusUrl": "http://p:9090", "queries": {"requestRate": "sum($pod)"}},
    }
    with pytest.raises(SpecError, match=r"\$pod"):
        run_config_for(RLAutoscalerSpec.from_spec(bad_query), "shop", OperatorConfig())


def test_conditions_follow_the_hpa() -> None:
    up = Decision(0.0, 2, 9, 6, (Reason("TooManyReplicas", "capped at max 6", 9, 6),))
    conditions = decision_conditions(up)
    assert conditions["AbleToScale"][:2] == ("True", "SucceededRescale")
    assert conditions["ScalingActive"][:2] == ("True", "ValidMetricFound")
    assert conditions["ScalingLimited"][:2] == ("True", "TooManyReplicas")
    assert summarize(up) == "2->6 (TooManyReplicas)"
    stale = Decision(0.0, 3, 3, 3, (Reason("StaleMetrics", "request rate is stale", 3, 3),))
    assert decision_conditions(stale)["ScalingActive"][:2] == ("False", "FailedGetMetrics")
    assert decision_conditions(stale)["AbleToScale"][1] == "ReadyForNewScale"
    failed = Decision(0.0, 3, 5, 5, (Reason("FailedRescale", "HTTP 500", 3, 3),))
    assert decision_conditions(failed)["AbleToScale"][:2] == ("False", "FailedUpdateScale")
    assert "lastScaleTime" not in decision_status(failed, 1, 4)
    dry = Decision(0.0, 3, 5, 5, (Reason("DryRun", "not applied", 5, 5),), dry_run=True)
    assert decision_conditions(dry)["AbleToScale"][1] == "DryRun"
    status = decision_status(up, 7, 4)
    assert status["observedGeneration"] == 4 and status["decisions"] == 7 and "lastScaleTime" in status
    assert status["lastDecision"]["reasons"] == [
        {"code": "TooManyReplicas", "message": "capped at max 6", "before": 9, "after": 6}
    ]


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = merge_conditions(None, {"AbleToScale": ("True", "ReadyForNewScale", "m")}, "2026-01-01T00:00:00Z")
    same = merge_conditions(
        first, {"AbleToScale": ("True", "SucceededRescale", "m2")}, "2026-01-01T00:01:00Z"
    )
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z" and same[0]["reason"] == "SucceededRescale"
    flipped = merge_conditions(
        same, {"AbleToScale": ("False", "FailedGetScale", "m3")}, "2026-01-01T00:02:00Z"
    )
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"


def test_scaled_clock() -> None:
    base = ManualClock(10.0)
    clock = ScaledClock(4.0, base)
    assert clock.now() == 40.0
    clock.sleep(8.0)  # 8 scaled seconds = 2 base seconds
    assert base.now() == 12.0 and clock.now() == 48.0
