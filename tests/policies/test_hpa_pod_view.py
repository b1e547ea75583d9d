"""The HPA's view of each pod (reference/autoscalers.md §1.4): groupPods' CPU readiness rules,
and a just-ready pod whose CPU sample predates its readiness counting as unready."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from policy_signals import make_signals

from rlscale.core.signals import PodView
from rlscale.policies.hpa import HPAPolicy, PodStatus, group_pods
from rlscale.sim import get_preset, init_state, signals, step

R, U, M, IG = PodStatus.READY, PodStatus.UNREADY, PodStatus.MISSING, PodStatus.IGNORED
NAN = float("nan")

# now = 1000 s; CPU initialisation period 300 s, initial readiness delay 30 s; 15 s windows.
# (case, phase, deleted, has_sample, ready (1/0/NaN absent), transition_s, start_s, sample_s, expected)
CASES = [
    ("deleted pod is ignored", "Running", True, True, 1, 900, 800, 990, IG),
    ("failed pod is ignored", "Failed", False, True, 0, 900, 800, 990, IG),
    ("pending pod is unready", "Pending", False, False, NAN, NAN, 990, NAN, U),
    ("running pod without a sample is missing", "Running", False, False, 1, 900, 800, NAN, M),
    ("no Ready condition: unready", "Running", False, True, NAN, NAN, 800, 990, U),
    ("no start time: unready", "Running", False, True, 1, 900, NAN, 990, U),
    ("initialising, not Ready: unready", "Running", False, True, 0, 950, 900, 990, U),
    ("initialising, sample before ready + window: unready", "Running", False, True, 1, 980, 900, 990, U),
    ("initialising, sample exactly ready + window: ready", "Running", False, True, 1, 975, 900, 990, R),
    ("initialising, sample a window after ready: ready", "Running", False, True, 1, 960, 900, 990, R),
    ("initialisation ends exactly now: after it, Ready: ready", "Running", False, True, 1, 995, 700, 990, R),
    ("after initialisation, pre-ready sample, Ready: ready", "Running", False, True, 1, 995, 650, 990, R),
    ("after initialisation, not Ready, never was: unready", "Running", False, True, 0, 660, 650, 990, U),
    ("after initialisation, not Ready, was ready: ready", "Running", False, True, 0, 900, 650, 990, R),
    (
        "after initialisation, transition exactly start + 30 s: ready",
        "Running",
        False,
        True,
        0,
        680,
        650,
        990,
        R,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_group_pods_cpu_rules(case) -> None:
    _, phase, deleted, has_sample, ready, transition, start, sample, expected = case
    got = group_pods(
        1000.0,
        phase=[phase],
        deleted=[deleted],
        has_sample=[has_sample],
        ready_status=[ready],
        ready_transition_s=[transition],
        start_time_s=[start],
        sample_time_s=[sample],
        sample_window_s=[15.0],
    )
    assert PodStatus(int(got[0])) == expected


def test_readiness_is_not_consulted_for_other_resources() -> None:
    got = group_pods(
        1000.0,
        phase=["Running", "Pending"],
        deleted=[False, False],
        has_sample=[True, True],
        ready_status=[0, 0],
        ready_transition_s=[980, 980],
        start_time_s=[900, 900],
        sample_time_s=[990, 990],
        sample_window_s=[15.0, 15.0],
        cpu=False,
    )
    assert got.tolist() == [R, U]


def _young_pods_signals(ready_times: list[float], time_s: float = 45.0) -> PodView:
    cols = [-np.inf, -np.inf, *ready_times]
    return PodView(
        start_time_s=np.array([[-np.inf, -np.inf] + [0.0] * len(ready_times)]),
        ready_time_s=np.array([cols]),
        cpu_sample_time_s=np.array([time_s - 15.0]),
        cpu_sample_window_s=np.array([15.0]),
    )


def test_just_ready_pods_are_unready_on_a_scale_up(service) -> None:
    """4 ready pods, 2 of them ready since 45 s, CPU 95 % sampled over [15, 30] s on the old
    two: counted as ready the HPA would go to ceil(1.9 * 4) = 8; as Kubernetes counts them
    (unready, 0 in the re-computation) 2 * 95 / 4 = 47 % is within tolerance: hold 4."""
    base = make_signals(time_s=45.0, desired_replicas=4, ready_replicas=4, cpu_utilization=0.95)
    blind = HPAPolicy(service, 1, target_utilization_pct=50)
    assert int(blind.act(base)[0]) == 8
    seeing = HPAPolicy(service, 1, target_utilization_pct=50)
    with_view = dataclasses.replace(base, pods=_young_pods_signals([45.0, 45.0]))
    assert seeing.ready_pods_unready_for_cpu(with_view).tolist() == [2]
    assert int(seeing.act(with_view)[0]) == 4
    # a sample that covers a whole window after readiness counts them
    later = dataclasses.replace(with_view, pods=_young_pods_signals([15.0, 15.0]))
    assert HPAPolicy(service, 1, target_utilization_pct=50).ready_pods_unready_for_cpu(later).tolist() == [0]


def _run_issue_case(keep_pod_view: bool) -> list[int]:
    """Web, 200 req/s, 2 pods, target 50 %, a fixed 45 s start-up (issue 17)."""
    params = dataclasses.replace(
        get_preset("web"), startup_delay_min_s=45.0, startup_delay_max_s=45.0, poisson_arrivals=False
    )
    rng = np.random.default_rng(0)
    state = init_state(params, 1, 2, rng, initial_rate_rps=200.0)
    hpa = HPAPolicy(params.spec, 1, target_utilization_pct=50)
    desired = []
    for _ in range(30):
        sig = signals(params, state)
        if not keep_pod_view:
            sig = dataclasses.replace(sig, pods=None)
        d = hpa.act(sig)
        desired.append(int(d[0]))
        state, _ = step(params, state, np.array([200.0]), d, rng)
    return desired


def test_simulated_hpa_goes_2_to_4_not_8() -> None:
    desired = _run_issue_case(keep_pod_view=True)
    assert desired[0] == 4 and max(desired) == 4 and desired[-1] == 4
    # the aggregate view (what the simulator gave before) double-counts and holds 8
    assert max(_run_issue_case(keep_pod_view=False)) == 8
