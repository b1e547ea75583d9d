"""The HPA normaliser and policy with a manual clock (time via signals.time_s):
reference/autoscalers.md §1.2 and §1.6."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.spec import ServiceSpec
from rlscale.policies.base import Policy
from rlscale.policies.hpa import HPABehavior, HPANormalizer, HPAPolicy, ScalingPolicy, ScalingRules


def act(
    policy: HPAPolicy, t: float, cur: int, util: float, ready: int | None = None, pending: int = 0
) -> int:
    s = make_signals(
        time_s=t,
        desired_replicas=cur,
        ready_replicas=cur if ready is None else ready,
        pending_replicas=pending,
        cpu_utilization=util,
    )
    return int(policy.act(s)[0])


def hpa(service: ServiceSpec, **kw) -> HPAPolicy:
    kw.setdefault("target_utilization_pct", 50)
    return HPAPolicy(service, 1, **kw)


def test_is_a_policy(service: ServiceSpec) -> None:
    p = hpa(service)
    assert isinstance(p, Policy)
    assert p.name == "hpa" and p.num_envs == 1


@pytest.mark.parametrize(
    ("cur", "util", "path_a", "path_b"), [(1, 10.0, 4, 5), (3, 2.5, 6, 7), (10, 2.5, 20, 20)]
)
def test_scale_up_caps_both_paths(
    service: ServiceSpec, cur: int, util: float, path_a: int, path_b: int
) -> None:
    assert act(hpa(service), 0.0, cur, util) == path_a
    assert act(hpa(service, behavior="default"), 0.0, cur, util) == path_b


def test_path_a_cap_is_per_sync_not_per_period(service: ServiceSpec) -> None:
    p = hpa(service)
    assert act(p, 0.0, 3, 2.5) == 6
    assert act(p, 15.0, 6, 2.5) == 12
    assert act(p, 30.0, 12, 2.5) == 24


def test_default_behavior_exact_15s_tick_allows_again(service: ServiceSpec) -> None:
    # the t=0 event is exactly 15 s old at t=15: not strictly newer than now − 15, so not counted
    p = hpa(service, behavior="default")
    assert act(p, 0.0, 1, 10.0) == 5
    assert act(p, 15.0, 5, 10.0) == 10
    assert act(p, 30.0, 10, 10.0) == 20


def test_default_behavior_event_inside_period_counts(service: ServiceSpec) -> None:
    p = hpa(service, behavior="default", sync_period_s=10.0)
    assert act(p, 0.0, 1, 10.0) == 5
    # 10 s later the +4 event is inside the 15 s period: periodStart = 1 → limit max(1+4, 2) = 5
    assert act(p, 10.0, 5, 10.0) == 5
    assert act(p, 20.0, 5, 10.0) == 10


def test_path_a_five_minute_scale_down_stabilisation(service: ServiceSpec) -> None:
    p = hpa(service)
    out = [act(p, t, 10, 0.2) for t in np.arange(0.0, 301.0, 15.0)]
    assert out == [10] * len(out)  # the initial recommendation (10 at t=0) is still in the window at 300 s
    assert act(p, 315.0, 10, 0.2) == 4


def test_path_b_scale_down_stabilisation_is_strictly_newer(service: ServiceSpec) -> None:
    p = hpa(service, behavior="default")
    out = [act(p, t, 10, 0.2) for t in np.arange(0.0, 300.0, 15.0)]
    assert out == [10] * len(out)
    assert act(p, 300.0, 10, 0.2) == 4  # the t=0 sample is exactly 300 s old: not After(cutoff)


def test_path_a_rolling_max_also_smooths_scale_up_peaks(service: ServiceSpec) -> None:
    p = hpa(service)
    assert act(p, 0.0, 10, 0.7) == 14  # ratio 1.4
    # load drops back within tolerance; the 14 proposal stays the maximum for 300 s
    assert act(p, 15.0, 14, 0.5) == 14
    assert act(p, 30.0, 14, 0.25) == 14


def test_custom_pods_policy_period(service: ServiceSpec) -> None:
    behavior = HPABehavior(scale_up=ScalingRules((ScalingPolicy("Pods", 1, 60.0),), 0.0, "Max"))
    p = hpa(service, behavior=behavior)
    cur = 2
    seen = []
    for t in np.arange(0.0, 136.0, 15.0):
        cur = act(p, t, cur, 5.0)
        seen.append(cur)
    # +1 at t=0; the event leaves the 60 s period at t=60 (exactly 60 s old), and so on
    assert seen == [3, 3, 3, 3, 4, 4, 4, 4, 5, 5]


def test_percent_scale_down_policy_truncates(service: ServiceSpec) -> None:
    behavior = HPABehavior(scale_down=ScalingRules((ScalingPolicy("Percent", 50, 60.0),), 0.0, "Max"))
    p = hpa(service, behavior=behavior)
    assert act(p, 0.0, 9, 0.01) == 4  # floor(9 · 0.5) = 4 (int32 truncation)
    assert act(p, 15.0, 4, 0.01) == 4  # periodStart = 4 + 5 = 9 → floor 4: no further change
    assert act(p, 60.0, 4, 0.01) == 2


def test_select_policy_min_and_disabled(service: ServiceSpec) -> None:
    up_min = ScalingRules((ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0)), 0.0, "Min")
    assert act(hpa(service, behavior=HPABehavior(scale_up=up_min)), 0.0, 10, 2.5) == 14
    off = ScalingRules((), 0.0, "Disabled")
    assert act(hpa(service, behavior=HPABehavior(scale_up=off)), 0.0, 10, 2.5) == 10
    assert act(hpa(service, behavior=HPABehavior(scale_down=off)), 0.0, 10, 0.01) == 10
    down_two = ScalingRules((ScalingPolicy("Pods", 2, 15.0), ScalingPolicy("Percent", 50, 15.0)), 0.0, "Min")
    assert act(hpa(service, behavior=HPABehavior(scale_down=down_two)), 0.0, 10, 0.01) == 8


def test_scale_up_stabilisation_window_takes_the_minimum(service: ServiceSpec) -> None:
    up = ScalingRules((ScalingPolicy("Percent", 900, 15.0),), 60.0, "Max")
    p = hpa(service, behavior=HPABehavior(scale_up=up))
    assert act(p, 0.0, 4, 0.5) == 4
    # a spike: the up window still holds the t=0 samples (4), so no scale-up yet
    assert act(p, 15.0, 4, 1.0) == 4
    assert act(p, 30.0, 4, 1.0) == 4
    assert act(p, 45.0, 4, 1.0) == 4
    assert act(p, 60.0, 4, 1.0) == 8  # t=0 is exactly 60 s old: excluded, the t=15.. samples say 8


def test_restart_wipe_forgets_history(service: ServiceSpec) -> None:
    kept, wiped = hpa(service), hpa(service)
    for p in (kept, wiped):
        assert act(p, 0.0, 10, 1.5) == 20  # proposal 30, capped at max(2·10, 4)
    wiped.wipe()
    assert act(kept, 15.0, 20, 0.5) == 30  # the 30 recommendation is still in the window
    assert act(wiped, 15.0, 20, 0.5) == 20


def test_restart_wipe_clears_scale_events(service: ServiceSpec) -> None:
    behavior = HPABehavior(scale_up=ScalingRules((ScalingPolicy("Pods", 1, 60.0),), 0.0, "Max"))
    p = hpa(service, behavior=behavior)
    assert act(p, 0.0, 2, 5.0) == 3
    assert act(p, 15.0, 3, 5.0) == 3
    p.wipe()
    assert act(p, 30.0, 3, 5.0) == 4


def test_a_fresh_hpa_cannot_scale_down_for_five_minutes(service: ServiceSpec) -> None:
    p = hpa(service)
    assert act(p, 1000.0, 8, 0.01) == 8
    assert act(p, 1300.0, 8, 0.01) == 8
    assert act(p, 1315.0, 8, 0.01) == 1


def test_pre_checks(service: ServiceSpec) -> None:
    assert act(hpa(service), 0.0, 0, 5.0, ready=0) == 0  # disabled: spec.replicas 0 with min 1
    assert act(hpa(service), 0.0, 60, 0.5) == 50  # above max: straight to max, no stabilisation
    assert act(hpa(service, min_replicas=5), 0.0, 2, 0.01) == 5  # below min
    # pre-checks run before the metric step: they act even when the metric failed
    assert act(hpa(service), 0.0, 60, float("nan")) == 50


def test_min_max_clamp_of_the_proposal(service: ServiceSpec) -> None:
    assert act(hpa(service, max_replicas=12), 0.0, 10, 2.5) == 12
    p = hpa(service, min_replicas=3, downscale_stabilization_s=0.0)
    assert act(p, 0.0, 5, 0.01) == 3


def test_failed_metric_does_nothing_and_records_nothing(service: ServiceSpec) -> None:
    p = hpa(service, downscale_stabilization_s=30.0)
    assert act(p, 0.0, 10, float("nan")) == 10
    assert act(p, 15.0, 10, 0.5, ready=0, pending=10) == 10  # no ready pod: no metric
    # only the initial recommendation (10 at t=0) exists; at 31 s it is out of the window
    assert act(p, 31.0, 10, 0.2) == 4


def test_pending_pods_are_unready_on_scale_up(service: ServiceSpec) -> None:
    # 2 ready at 100 % (target 50) + 2 pending: re-computed 50 % → within tolerance → hold 4
    assert act(hpa(service), 0.0, 4, 1.0, ready=2, pending=2) == 4
    # 2 ready at 200 % + 1 pending: 400/3 → 133 % → 2.66 → ceil(8.0) = 8
    assert act(hpa(service), 0.0, 3, 2.0, ready=2, pending=1) == 6  # capped at max(2·3, 4)
    assert act(hpa(service, behavior="default"), 0.0, 3, 2.0, ready=2, pending=1) == 7


def test_sync_period_longer_than_decision_period(service: ServiceSpec) -> None:
    p = hpa(service, sync_period_s=30.0)
    assert act(p, 0.0, 2, 1.0) == 4
    assert act(p, 15.0, 4, 5.0) == 4  # not due: spec.replicas returned unchanged
    assert act(p, 30.0, 4, 5.0) == 8


def test_batch_matches_independent_runs(service: ServiceSpec) -> None:
    rng = np.random.default_rng(3)
    n, steps = 6, 40
    behaviors = [None, "default"]
    for behavior in behaviors:
        batched = HPAPolicy(service, n, target_utilization_pct=60, behavior=behavior)
        singles = [HPAPolicy(service, 1, target_utilization_pct=60, behavior=behavior) for _ in range(n)]
        cur = rng.integers(1, 10, n)
        for k in range(steps):
            util = rng.uniform(0.05, 2.5, n)
            pending = rng.integers(0, 3, n)
            ready = np.maximum(cur - pending, 0)
            s = make_signals(
                n,
                time_s=15.0 * k,
                desired_replicas=cur,
                ready_replicas=ready,
                pending_replicas=pending,
                cpu_utilization=util,
            )
            out = batched.act(s)
            expected = [int(singles[i].act(s.select(i))[0]) for i in range(n)]
            assert out.tolist() == expected
            if k == 20:
                mask = np.arange(n) % 2 == 0
                batched.reset(mask)
                for i in np.flatnonzero(mask):
                    singles[i].reset()
            cur = out


def test_reset_mask_shape_is_checked(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="mask"):
        HPAPolicy(service, 3).reset(np.ones(2, dtype=bool))


def test_batch_size_mismatch_is_named(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="num_envs=2"):
        HPAPolicy(service, 2).act(make_signals(3))


def test_bad_parameters_are_named(service: ServiceSpec) -> None:
    with pytest.raises(ValueError, match="target_utilization_pct"):
        HPAPolicy(service, 1, target_utilization_pct=0)
    with pytest.raises(ValueError, match="periodSeconds"):
        ScalingPolicy("Pods", 1, 3600.0)
    with pytest.raises(ValueError, match="selectPolicy"):
        ScalingRules((ScalingPolicy("Pods", 1, 15.0),), 0.0, "Maximum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="behavior"):
        HPAPolicy(service, 1, behavior="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_replicas"):
        HPAPolicy(dataclasses.replace(service), 1, min_replicas=9, max_replicas=3)


def test_normalizer_ring_grows_with_dense_syncs() -> None:
    # 1 s syncs against a 300 s window: hundreds of samples must all be kept
    norm = HPANormalizer(1, 1, 100)
    out = norm.reconcile(np.array([0.0]), np.array([50]), np.array([50]), np.array([True]))
    for t in range(1, 301):
        out = norm.reconcile(np.array([float(t)]), out, np.array([10]), np.array([True]))
    assert out[0] == 50
    out = norm.reconcile(np.array([301.0]), out, np.array([10]), np.array([True]))
    assert out[0] == 10


def test_live_tick_slightly_early_still_counts_as_a_sync(service: ServiceSpec) -> None:
    """A live loop's 15 s ticks jitter; a tick at 14.99 s must not skip a whole HPA period."""
    policy = HPAPolicy(service, 1, target_utilization_pct=50, behavior="default")
    first = policy.act(make_signals(time_s=0.0, desired_replicas=2, ready_replicas=2, cpu_utilization=0.5))
    assert first[0] == 2
    early = policy.act(make_signals(time_s=14.99, desired_replicas=2, ready_replicas=2, cpu_utilization=1.5))
    assert early[0] == 6  # ceil(2 · 150/50), within the default Path B scale-up limit
    too_early = policy.act(
        make_signals(time_s=20.0, desired_replicas=6, ready_replicas=6, cpu_utilization=1.5)
    )
    assert too_early[0] == 6  # not yet due: 5 s after the last sync
