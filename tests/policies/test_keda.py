"""KEDA: the External AverageValue HPA and the operator's activation/cooldown (reference §3)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.policies.hpa import Tolerances
from rlscale.policies.keda import KEDAPolicy, external_average_value_proposal, to_milli


def act(p: KEDAPolicy, t: float, cur: int, rate: float, ready: int | None = None) -> int:
    s = make_signals(
        time_s=t, desired_replicas=cur, ready_replicas=cur if ready is None else ready, request_rate_rps=rate
    )
    return int(p.act(s)[0])


def test_reference_vector_95_10_3() -> None:
    out = external_average_value_proposal(to_milli(np.array([95.0])), 10_000, np.array([3]), Tolerances())
    assert out.tolist() == [10]


def test_proposal_within_tolerance_keeps_status_replicas() -> None:
    out = external_average_value_proposal(
        to_milli(np.array([31.0, 27.0, 26.9])), 10_000, np.array([3, 3, 3]), Tolerances()
    )
    assert out.tolist() == [3, 3, 3]  # 1.033, 0.9 (inclusive) ... 0.8967 is outside → ceil(2.69) = 3
    assert external_average_value_proposal(
        np.array([26_000]), 10_000, np.array([3]), Tolerances()
    ).tolist() == [3]
    assert external_average_value_proposal(
        np.array([19_000]), 10_000, np.array([3]), Tolerances()
    ).tolist() == [2]


def test_to_milli_rounds_up_without_float_noise() -> None:
    assert to_milli(np.array([95.3, 0.1 * 3, 0.0004])).tolist() == [95_300, 300, 1]


def test_policy_95_10_3_path_a_then_default_behavior(service: ServiceSpec) -> None:
    p = KEDAPolicy(service, 1, target_rps_per_replica=10.0)
    assert isinstance(p, Policy)
    assert act(p, 0.0, 3, 95.0) == 6  # proposal 10, Path A cap max(2·3, 4)
    assert act(p, 15.0, 6, 95.0) == 10
    q = KEDAPolicy(service, 1, target_rps_per_replica=10.0, behavior="default")
    assert act(q, 0.0, 3, 95.0) == 7
    assert act(q, 15.0, 7, 95.0) == 10


def test_default_target_is_a_fraction_of_pod_capacity(service: ServiceSpec) -> None:
    p = KEDAPolicy(service, 1)
    assert p.target_rps_per_replica == pytest.approx(0.7 * service.pod_capacity_rps)


def test_activation_from_zero_only_on_polls(service: ServiceSpec) -> None:
    zero_min = dataclasses.replace(service, min_replicas=0)
    p = KEDAPolicy(zero_min, 1, target_rps_per_replica=10.0)
    assert act(p, 0.0, 0, 0.0, ready=0) == 0  # inactive (0 is not > 0)
    assert (
        act(p, 15.0, 0, 35.0, ready=0) == 0
    )  # active, but the next poll is at 30 s; the HPA is disabled at 0
    assert act(p, 30.0, 0, 35.0, ready=0) == 4  # operator 0 → 1, then the HPA: ceil(3.5) = 4 (cap 4)


def test_activation_threshold_overrides_scaling(service: ServiceSpec) -> None:
    zero_min = dataclasses.replace(service, min_replicas=0)
    p = KEDAPolicy(zero_min, 1, target_rps_per_replica=10.0, activation_threshold_rps=50.0)
    assert act(p, 0.0, 4, 40.0) == 4  # HPA: 40/(10·4) = 1.0, keep; never active, created now
    assert act(p, 15.0, 4, 40.0) == 4
    assert act(p, 30.0, 4, 40.0) == 0  # inactive past creation + initialCooldown: straight to 0


def test_cooldown_from_last_active_then_jump_to_zero(service: ServiceSpec) -> None:
    zero_min = dataclasses.replace(service, min_replicas=0)
    p = KEDAPolicy(zero_min, 1, target_rps_per_replica=10.0)
    cur = act(p, 0.0, 5, 50.0)  # active at t=0: lastActiveTime = 0
    assert cur == 5
    seen = {}
    for t in np.arange(15.0, 346.0, 15.0):
        cur = act(p, float(t), cur, 0.0)
        seen[float(t)] = cur
    assert seen[300.0] == 5  # the HPA's 300 s stabilisation still holds the t=0 recommendation
    assert seen[315.0] == 1  # HPA: ceil(0) = 0 → clamped to the HPA's minReplicas max(0, 1)
    assert seen[330.0] == 0  # poll at 330: 0 + 300 < 330 → 0 (the poll at 300 was not past it)
    assert seen[345.0] == 0


def test_cooldown_scales_any_n_straight_to_zero(service: ServiceSpec) -> None:
    zero_min = dataclasses.replace(service, min_replicas=0)
    p = KEDAPolicy(zero_min, 1, target_rps_per_replica=10.0, cooldown_period_s=30.0)
    assert act(p, 0.0, 8, 80.0) == 8
    assert act(p, 15.0, 8, 0.0) == 8
    assert act(p, 30.0, 8, 0.0) == 8  # 0 + 30 is not before 30
    assert act(p, 60.0, 8, 0.0) == 0  # from 8, not via 1


def test_min_replica_count_ignores_activation(service: ServiceSpec) -> None:
    p = KEDAPolicy(service, 1, target_rps_per_replica=10.0, activation_threshold_rps=1000.0)
    assert act(p, 0.0, 0, 0.0, ready=0) == 1  # at 0 replicas the operator restores minReplicaCount
    q = KEDAPolicy(service, 1, target_rps_per_replica=10.0, activation_threshold_rps=1000.0)
    assert act(q, 0.0, 3, 0.0) == 3
    assert act(q, 300.0, 3, 0.0) == 3  # the HPA's own stabilisation holds ...
    assert act(q, 315.0, 3, 0.0) == 1  # ... then it reaches minReplicas, never 0
    assert act(q, 900.0, 1, 0.0) == 1


def test_nan_rate_hpa_holds(service: ServiceSpec) -> None:
    p = KEDAPolicy(service, 1, target_rps_per_replica=10.0)
    assert act(p, 0.0, 3, float("nan")) == 3


def test_bad_parameters(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="target_rps_per_replica"):
        KEDAPolicy(service, 1, target_rps_per_replica=0.0)
    with pytest.raises(ValueError, match="polling_interval_s"):
        KEDAPolicy(service, 1, polling_interval_s=0.0)
