"""The Kubernetes facts are stated once: every surface's default is the facts module's value."""

from __future__ import annotations

import dataclasses

from rlscale.core import kubernetes_defaults as k8s


def test_values_match_the_reference() -> None:
    # reference/autoscalers.md §1.1, §3.1, §4.1 (upstream defaults.go, scaledobject-spec, config-autoscaler)
    assert (k8s.HPA_SYNC_PERIOD_S, k8s.HPA_TOLERANCE, k8s.HPA_DOWNSCALE_STABILIZATION_S) == (15.0, 0.1, 300.0)
    assert (k8s.HPA_SCALE_UP_PODS, k8s.HPA_SCALE_UP_PERCENT, k8s.HPA_SCALE_UP_PERIOD_S) == (4, 100, 15.0)
    assert (k8s.KEDA_POLLING_INTERVAL_S, k8s.KEDA_COOLDOWN_PERIOD_S) == (30.0, 300.0)
    assert (k8s.KPA_STABLE_WINDOW_S, k8s.KPA_PANIC_WINDOW_PERCENTAGE, k8s.KPA_TARGET_UTILIZATION) == (
        60.0,
        10.0,
        0.7,
    )


def test_every_surface_defaults_to_the_facts() -> None:
    from rlscale.controller import crd
    from rlscale.controller.app import RunConfig
    from rlscale.policies.hpa import HPABehavior, Tolerances
    from rlscale.safety.guard import GuardConfig, RateLimits

    limits = RateLimits()
    assert (limits.period_s, limits.up_pods, limits.up_percent) == (
        k8s.HPA_SCALE_UP_PERIOD_S,
        k8s.HPA_SCALE_UP_PODS,
        k8s.HPA_SCALE_UP_PERCENT,
    )
    guard_window = {f.name: f.default for f in dataclasses.fields(GuardConfig)}["stabilization_window_s"]
    assert guard_window == k8s.HPA_DOWNSCALE_STABILIZATION_S
    run = RunConfig(
        namespace="n", deployment="d", prometheus_url="http://p:9090", min_replicas=1, max_replicas=3
    )
    assert run.interval_s == k8s.HPA_SYNC_PERIOD_S
    assert run.stabilization_window_s == k8s.HPA_DOWNSCALE_STABILIZATION_S
    assert (run.max_step_up_pods, run.max_step_up_percent) == (
        k8s.HPA_SCALE_UP_PODS,
        k8s.HPA_SCALE_UP_PERCENT,
    )
    up = HPABehavior().scale_up
    assert [(p.type, p.value, p.period_s) for p in up.policies] == [
        ("Pods", k8s.HPA_SCALE_UP_PODS, k8s.HPA_SCALE_UP_PERIOD_S),
        ("Percent", k8s.HPA_SCALE_UP_PERCENT, k8s.HPA_SCALE_UP_PERIOD_S),
    ]
    assert Tolerances().up == Tolerances().down == k8s.HPA_TOLERANCE
    schema = crd.spec_schema()["properties"]
    behavior = schema["behavior"]["properties"]
    assert schema["intervalSeconds"]["default"] == k8s.HPA_SYNC_PERIOD_S
    assert behavior["scaleDownStabilizationSeconds"]["default"] == k8s.HPA_DOWNSCALE_STABILIZATION_S
    assert behavior["scaleDownStabilizationSeconds"]["maximum"] == k8s.HPA_MAX_STABILIZATION_S
    assert behavior["periodSeconds"]["default"] == k8s.HPA_SCALE_UP_PERIOD_S
    assert behavior["periodSeconds"]["maximum"] == k8s.HPA_MAX_POLICY_PERIOD_S
    assert behavior["maxScaleUpPods"]["default"] == k8s.HPA_SCALE_UP_PODS
    assert behavior["maxScaleUpPercent"]["default"] == k8s.HPA_SCALE_UP_PERCENT
