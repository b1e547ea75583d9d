"""The HPA replica calculator against reference/autoscalers.md §1.3–1.5 and the §1.8 vectors."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.policies.hpa import (
    MetricUnavailable,
    PodStatus,
    Tolerances,
    combine_metric_proposals,
    replicas_for_average_value,
    replicas_for_external_average_value,
    replicas_for_utilization,
    replicas_for_value,
    utilization_proposal_homogeneous,
)

R, U, M, IG = PodStatus.READY, PodStatus.UNREADY, PodStatus.MISSING, PodStatus.IGNORED


def util(usages, requests, status, target=50, current=None, tol=Tolerances()):
    current = len(usages) if current is None else current
    return replicas_for_utilization(usages, requests, status, target, current, tol)


# --- §1.8 vectors (tol 0.1, target 50 %, requests 1000m) -------------------------------------


def test_vector_within_tolerance_keeps_current() -> None:
    p = util([540] * 10, [1000] * 10, [R] * 10)
    assert (p.replicas, p.usage) == (10, 54)
    assert p.ratio == pytest.approx(1.08)


def test_vector_boundary_ratio_1_10_is_inclusive() -> None:
    assert util([550] * 10, [1000] * 10, [R] * 10).replicas == 10
    # one milli-percent more of total usage does not change the integer percent: still 55 %
    assert util([550] * 9 + [559], [1000] * 10, [R] * 10).replicas == 10
    # 56 % is outside: ceil(1.12 · 10) = 12
    assert util([560] * 10, [1000] * 10, [R] * 10).replicas == 12


def test_vector_lower_boundary_ratio_0_90_is_inclusive() -> None:
    assert util([450] * 10, [1000] * 10, [R] * 10).replicas == 10
    assert util([440] * 10, [1000] * 10, [R] * 10).replicas == 9  # ceil(0.88·10) = 9


def test_vector_scale_up_proposal_before_caps() -> None:
    p = util([2500] * 3, [1000] * 3, [R] * 3)
    assert (p.replicas, p.usage, p.ratio) == (15, 250, 5.0)


def test_vector_scale_down_proposal() -> None:
    assert util([200] * 10, [1000] * 10, [R] * 10).replicas == 4


def test_vector_missing_pods_on_scale_up_count_zero() -> None:
    p = util([1000] * 8 + [0, 0], [1000] * 10, [R] * 8 + [M, M], current=10)
    assert p.usage == 100 and p.ratio == 2.0  # the status reports the original utilisation
    assert p.replicas == 16  # newRatio = 800/(10·50) = 1.6 → ceil(16.0)


def test_vector_unready_pod_with_unequal_requests() -> None:
    fast_only = util([260], [100], [R], current=2)
    assert fast_only.replicas == 6  # ratio 5.2 on the single ready pod
    p = util([260, 999], [100, 300], [R, U], current=2)
    assert p.replicas == 3  # 260/400 = 65 % → 1.3 → ceil(2.6)


def test_vector_external_average_value_keda() -> None:
    p = replicas_for_external_average_value(95_000, 10_000, 3)
    assert p.ratio == pytest.approx(95 / 30)
    assert p.replicas == 10


# --- more cases ------------------------------------------------------------------------------


def test_integer_percent_truncates_before_the_ratio() -> None:
    # 55.9 % truncates to 55 → ratio exactly 1.10 → within tolerance
    assert util([559] * 10, [1000] * 10, [R] * 10).replicas == 10


def test_multiplier_is_ready_pod_count_not_spec_replicas() -> None:
    # 4 ready pods at 100 % (target 50), current (spec) 10: ceil(2.0 · 4) = 8, a scale-*down*
    assert util([1000] * 4, [1000] * 4, [R] * 4, current=10).replicas == 8


def test_missing_pods_on_scale_down_count_full_request() -> None:
    # 8 ready at 10 % + 2 missing at max(100, 50) % → 280/1000 = 28 % → 0.56 → ceil(5.6) = 6
    assert util([100] * 8 + [0, 0], [1000] * 10, [R] * 8 + [M, M], current=10).replicas == 6


def test_missing_fallback_uses_target_when_above_100_percent() -> None:
    # target 150 %: 3 ready at 50 %, 1 missing counted at 150 % → (150+150)/4000 = 75 % → 0.5 → 2
    p = util([500] * 3 + [0], [1000] * 4, [R, R, R, M], target=150, current=4)
    assert p.replicas == 2


def test_direction_flip_holds() -> None:
    # ready pods say scale down (30 %), two missing pods at 100 % flip it above 1: hold
    p = util([150, 150, 0, 0], [1000] * 4, [R, R, M, M], current=4)
    assert p.ratio < 1
    assert p.replicas == 4


def test_recomputation_within_tolerance_holds() -> None:
    # ratio 1.2 on 9 ready; 1 unready at 0 → 540/10000 = 54 % → 1.08 within → hold
    p = util([600] * 9 + [0], [1000] * 10, [R] * 9 + [U], current=10)
    assert p.replicas == 10


def test_unready_pods_ignored_on_scale_down() -> None:
    # scale-down: the unready pod is not added; fast path over 2 ready pods at 10 % → ceil(0.2·2) = 1
    assert util([100, 100, 0], [1000] * 3, [R, R, U], current=3).replicas == 1


def test_ignored_pods_drop_out_entirely() -> None:
    assert util([1000, 1000, 5000], [1000] * 3, [R, R, IG], current=3).replicas == 4


def test_no_pods_or_no_ready_pods_is_metric_unavailable() -> None:
    with pytest.raises(MetricUnavailable):
        util([], [], [])
    with pytest.raises(MetricUnavailable):
        util([100, 100], [1000, 1000], [U, M])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="status"):
        util([100], [1000], [R, R])
    with pytest.raises(ValueError, match="target_utilization_pct"):
        util([100], [1000], [R], target=0)


def test_average_value_missing_pods_count_target_on_scale_down() -> None:
    # Pods metric: 2 ready at 20 (target 100) + 2 missing at 100 → avg 60 → 0.6 → ceil(2.4) = 3
    p = replicas_for_average_value([20, 20, 0, 0], [R, R, M, M], 100, current_replicas=4)
    assert p.usage == 20
    assert p.replicas == 3


def test_average_value_integer_average() -> None:
    # avg floor((111+110)/2) = 110 → 1.10 within
    assert replicas_for_average_value([111, 110], [R, R], 100, current_replicas=2).replicas == 2


def test_external_average_value_from_zero_replicas() -> None:
    assert replicas_for_external_average_value(25_000, 10_000, 0).replicas == 3
    assert replicas_for_external_average_value(0, 10_000, 0).replicas == 0
    # within tolerance keeps the status count
    assert replicas_for_external_average_value(31_000, 10_000, 3).replicas == 3


def test_value_target() -> None:
    assert replicas_for_value(300, 100, current_replicas=2, ready_pods=2).replicas == 6
    assert replicas_for_value(250, 100, current_replicas=0, ready_pods=0).replicas == 3
    assert replicas_for_value(105, 100, current_replicas=2, ready_pods=2).replicas == 2


def test_separate_up_and_down_tolerances() -> None:
    tol = Tolerances(up=0.0, down=0.5)
    assert util([510] * 10, [1000] * 10, [R] * 10, tol=tol).replicas == 11  # 1.02 > 1 + 0
    assert util([300] * 10, [1000] * 10, [R] * 10, tol=tol).replicas == 10  # 0.6 ≥ 0.5


# --- the invalid-metric rule (§1.2 step 3) -----------------------------------------------------


def test_all_metrics_fail_does_nothing() -> None:
    reps, ok = combine_metric_proposals(np.array([[7, 9]]), np.array([[False, False]]), np.array([5]))
    assert not ok[0] and reps[0] == 5


def test_some_fail_with_scale_down_holds_but_scale_up_proceeds() -> None:
    reps, ok = combine_metric_proposals(
        np.array([[3, 0], [8, 0], [5, 0]]), np.array([[True, False]] * 3), np.array([5, 5, 5])
    )
    assert ok.tolist() == [False, True, True]
    assert reps.tolist() == [5, 8, 5]


def test_max_over_valid_metrics() -> None:
    reps, ok = combine_metric_proposals(
        np.array([[3, 6, 99]]), np.array([[True, True, False]]), np.array([2])
    )
    assert ok[0] and reps[0] == 6


# --- the vectorised path equals the per-pod calculator ------------------------------------------


def test_homogeneous_vectorised_path_matches_per_pod_calculator() -> None:
    rng = np.random.default_rng(7)
    request = 500
    n = 3000
    ready = rng.integers(0, 12, n)
    unready = rng.integers(0, 5, n) * (rng.random(n) < 0.5)
    usage = rng.integers(0, 2 * request, n)
    cur = ready + unready + rng.integers(-2, 3, n)
    cur = np.maximum(cur, 0)
    target = rng.choice([30, 50, 60, 80, 95, 120], n)
    reps = np.empty(n, dtype=np.int64)
    oks = np.empty(n, dtype=bool)
    for tgt in np.unique(target):
        sel = target == tgt
        r, o = utilization_proposal_homogeneous(
            ready[sel], unready[sel], usage[sel], request, int(tgt), cur[sel]
        )
        reps[sel], oks[sel] = r, o
    checked = 0
    for i in range(n):
        status = [R] * ready[i] + [U] * unready[i]
        usages = [usage[i]] * ready[i] + [0] * unready[i]
        try:
            expected = replicas_for_utilization(
                usages, [request] * len(status), status, int(target[i]), int(cur[i])
            )
        except MetricUnavailable:
            assert not oks[i]
            continue
        assert oks[i]
        assert reps[i] == expected.replicas, (ready[i], unready[i], usage[i], cur[i], target[i])
        checked += 1
    assert checked > n // 2
