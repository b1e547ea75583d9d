"""SPEC parsing, building and errors."""

from __future__ import annotations

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies import (
    POLICY_NAMES,
    Policy,
    PolicySpec,
    PolicySpecError,
    build_policy,
    parse_policy_spec,
    register_policy,
)
from rlscale.policies.hpa import HPAPolicy
from rlscale.policies.oracle import OraclePolicy


@pytest.mark.parametrize(
    ("text", "name", "params"),
    [
        ("hpa", "hpa", {}),
        ("hpa:target=60", "hpa", {"target": 60.0}),
        ("hpa:target=60,behavior=default", "hpa", {"target": 60.0, "behavior": "default"}),
        ("keda", "keda", {}),
        ("kpa", "kpa", {}),
        ("threshold", "threshold", {}),
        ("static:replicas=5", "static", {"replicas": 5}),
        ("predictive", "predictive", {}),
        ("learned", "learned", {}),
        ("learned:runs/best/model", "learned", {"path": "runs/best/model"}),
        (" HPA : target = 70 ", "hpa", {"target": 70.0}),
    ],
)
def test_parse(text: str, name: str, params: dict) -> None:
    spec = parse_policy_spec(text)
    assert spec == PolicySpec(name, params)


def test_error_messages() -> None:
    with pytest.raises(PolicySpecError, match=r"^hpa: parameter 'target' must be a number, got 'abc'$"):
        parse_policy_spec("hpa:target=abc")
    with pytest.raises(PolicySpecError, match=r"unknown policy 'nope'; known policies: .*hpa.*keda"):
        parse_policy_spec("nope")
    with pytest.raises(
        PolicySpecError, match="hpa: unknown parameter 'tgt'; valid parameters: target, tolerance"
    ):
        parse_policy_spec("hpa:tgt=3")
    with pytest.raises(PolicySpecError, match="expected key=value"):
        parse_policy_spec("hpa:60")
    with pytest.raises(PolicySpecError, match="given twice"):
        parse_policy_spec("hpa:target=60,target=70")
    with pytest.raises(PolicySpecError, match="empty"):
        parse_policy_spec("  ")


def test_names_list() -> None:
    for name in (
        "hpa",
        "keda",
        "kpa",
        "threshold",
        "static",
        "predictive",
        "learned",
    ):
        assert name in POLICY_NAMES
    # the evaluation's own specs (evaluation.specs), not policies the registry builds
    assert "oracle" not in POLICY_NAMES and "hpa-frontier" not in POLICY_NAMES


@pytest.mark.parametrize(
    "text",
    [
        "hpa",
        "hpa:target=60,behavior=default",
        "hpa:up_pods=2,up_period_s=60,down_window_s=120",
        "keda:target=50,activation=1",
        "kpa:utilization=80",
        "threshold:upper=70,lower=20",
        "static:replicas=5",
        "predictive:headroom=20",
    ],
)
def test_build_each_baseline(service: ServiceSpec, text: str) -> None:
    policy = build_policy(text, service, 3)
    assert isinstance(policy, Policy)
    assert policy.num_envs == 3
    out = policy.act(
        make_signals(3, desired_replicas=2, ready_replicas=2, cpu_utilization=0.5, request_rate_rps=100.0)
    )
    assert out.shape == (3,) and out.dtype == np.int64
    policy.reset()


def test_build_maps_parameters(service: ServiceSpec) -> None:
    p = build_policy("hpa:target=60,behavior=default,min=2,max=9", service, 1)
    assert isinstance(p, HPAPolicy)
    assert p.target_utilization_pct == 60 and p.behavior is not None
    assert (p.min_replicas, p.max_replicas) == (2, 9)
    custom = build_policy("hpa:up_pods=2,up_period_s=60,up_select=min", service, 1)
    assert isinstance(custom, HPAPolicy) and custom.behavior is not None
    assert custom.behavior.scale_up.policies[0].value == 2 and custom.behavior.scale_up.select_policy == "Min"
    assert build_policy("kpa:utilization=80", service, 1).target_rps == pytest.approx(80.0)  # type: ignore[attr-defined]


def test_build_errors(service: ServiceSpec) -> None:
    with pytest.raises(PolicySpecError, match="whole percent"):
        build_policy("hpa:target=60.5", service, 1)
    with pytest.raises(PolicySpecError, match="behavior=default"):
        build_policy("hpa:behavior=nil,up_pods=2", service, 1)
    with pytest.raises(PolicySpecError, match="unknown policy 'oracle'"):
        build_policy("oracle", service, 1)
    with pytest.raises(PolicySpecError, match="threshold"):
        build_policy("threshold:upper=20,lower=50", service, 1)


def test_oracle_replays_its_schedules(service: ServiceSpec) -> None:
    p = OraclePolicy(service, 2, [np.array([2, 3]), np.array([4])])
    assert p.act(make_signals(2)).tolist() == [2, 4]


def test_learned_spec_reaches_the_learned_factory(service: ServiceSpec, tmp_path) -> None:
    # learned.py (the training engineer's) registers itself lazily; a bad path must fail with a
    # PolicySpecError naming the spec, never a TypeError from a mismatched factory signature
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises((PolicySpecError, FileNotFoundError)) as info:
        build_policy(f"learned:{missing}", service, 1)
    assert "learned" in str(info.value) or str(missing) in str(info.value)
    assert parse_policy_spec(f"learned:{missing}").params == {"path": str(missing)}


def test_register_policy_hook(service: ServiceSpec) -> None:
    from rlscale.policies.simple import StaticPolicy

    def factory(svc: ServiceSpec, n: int, k: int = 1, **context: object) -> Policy:
        return StaticPolicy(svc, n, replicas=k)

    register_policy("fixed-test", factory, {"type": "object", "properties": {"k": {"type": "integer"}}})
    try:
        assert "fixed-test" in POLICY_NAMES
        assert build_policy("fixed-test:k=3", service, 2).act(make_signals(2)).tolist() == [3, 3]
    finally:
        from rlscale.policies import registry

        registry._REGISTRY.pop("fixed-test")
        POLICY_NAMES.remove("fixed-test")
