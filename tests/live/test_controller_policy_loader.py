"""A corrupt or mismatched checkpoint is a fault the controller survives and recovers from."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.controller.policy_loader import PolicyUnavailable, ReloadingPolicy
from rlscale.core import ManualClock, ScalingSignals, ServiceSpec
from rlscale.nets.checkpoint import CheckpointError

SPEC = ServiceSpec(name="web", pod_capacity_rps=10.0, slo_latency_s=0.5)
SIGNALS = ScalingSignals.single(**{name: 1.0 for name in ScalingSignals.field_names()})


class _Fixed:
    name, spec, num_envs = "fixed", SPEC, 1

    def act(self, signals: ScalingSignals) -> np.ndarray:
        return np.array([4])

    def reset(self, mask: np.ndarray | None = None) -> None:
        return None


def test_reloading_policy_raises_until_the_file_is_fixed_then_recovers() -> None:
    state = {"broken": True, "loads": 0}

    def factory() -> _Fixed:
        state["loads"] += 1
        if state["broken"]:
            raise CheckpointError("/ckpt/model.safetensors: truncated file")
        return _Fixed()

    clock = ManualClock()
    policy = ReloadingPolicy(factory, SPEC, name="learned:/ckpt", retry_s=10, clock=clock)
    with pytest.raises(PolicyUnavailable, match="truncated file"):
        policy.act(SIGNALS)
    assert state["loads"] == 1  # no retry before retry_s
    state["broken"] = False
    clock.advance(5)
    with pytest.raises(PolicyUnavailable):
        policy.act(SIGNALS)
    clock.advance(5)
    assert policy.act(SIGNALS).tolist() == [4]
    assert state["loads"] == 2 and policy.load_error is None


def test_other_errors_are_not_swallowed() -> None:
    def factory() -> _Fixed:
        raise ValueError("unknown parameter 'foo'")

    with pytest.raises(ValueError, match="foo"):
        ReloadingPolicy(factory, SPEC, name="x")
