"""A learned ``hold_target`` policy explains each answer in its own terms: the load it sized
for and where that came from (trend, recent peak, memory floor), the utilisation and the count;
the explanation's last count is the answer itself."""

from __future__ import annotations

import numpy as np

from rlscale.core import ScalingSignals, ServiceSpec
from rlscale.core.action_reasons import BOUNDS, MEMORY_FLOOR, RECENT_PEAK, SIZED_FOR_LOAD, TREND
from rlscale.policies.learned import LearnedPolicy

SPEC = ServiceSpec("web", 10.0, 0.5, 1, 20, step_s=15.0, startup_delay_s=45.0)


def _signals(rate_rps: float, desired: int) -> ScalingSignals:
    return ScalingSignals.single(
        time_s=0.0,
        desired_replicas=desired,
        ready_replicas=desired,
        pending_replicas=0,
        request_rate_rps=rate_rps,
        cpu_utilization=rate_rps / (10.0 * desired),
        latency_p95_s=0.1,
        backlog_requests=0.0,
        dropped_rps=0.0,
    )


def _run(policy: LearnedPolicy, rates: list[float]) -> list[tuple[int, tuple]]:
    desired, out = 2, []
    for rate in rates:
        answer = int(policy.act(_signals(rate, desired))[0])
        out.append((answer, policy.explain()))
        desired = answer
    return out


def test_every_answer_is_explained_and_the_last_count_is_the_answer() -> None:
    policy = LearnedPolicy(SPEC, 1)
    assert policy.explain() == ()
    rising = [20, 30, 45, 70, 100, 150, 150, 120, 80, 40, 20, 10]
    codes = set()
    for answer, reasons in _run(policy, rising):
        assert reasons, "no explanation"
        counts = [r.after for r in reasons if r.after is not None]
        assert counts[-1] == answer, reasons
        codes |= {r.code for r in reasons}
        sized = next((r for r in reasons if r.code == SIZED_FOR_LOAD), None)
        if sized is not None:  # the message carries the numbers it sized with
            assert "req/s" in sized.message and f"{sized.after} pods" in sized.message
    assert {SIZED_FOR_LOAD, TREND, RECENT_PEAK, BOUNDS} <= codes  # growth, a clamp at 20, and the way down


def test_a_binding_memory_floor_is_named_with_the_count_it_holds() -> None:
    policy = LearnedPolicy(SPEC, 1, memory_floor=0.8)
    results = _run(policy, [100.0] * 12 + [4.0] * 24)  # a peak, then 6 minutes of quiet
    answer, reasons = results[-1]
    floor = [r for r in reasons if r.code == MEMORY_FLOOR]
    assert floor and floor[0].after == answer and floor[0].before < answer, reasons
    assert "decayed peak" in floor[0].message and "80%" in floor[0].message
    assert np.isclose(answer, np.ceil(100.0 * np.exp(-23 * 15 / 7200) / (10.0 * 0.8)), atol=1)


def test_the_budget_feedback_follows_the_sizing_reasons() -> None:
    policy = LearnedPolicy(SPEC, 1, feedback="on", budget=0.01)
    desired, seen = 6, set()
    for _ in range(40):  # every period 20 % of requests over the SLO: 20x the budget
        signals = _signals(60.0, desired)
        signals = type(signals)(**{**signals.__dict__, "slo_violation_fraction": np.array([0.2])})
        answer = int(policy.act(signals)[0])
        reasons = policy.explain()
        counts = [r.after for r in reasons if r.after is not None]
        assert counts[-1] == answer, reasons
        assert reasons[0].code in (SIZED_FOR_LOAD, "PolicyHold")  # the network's own sizing first
        seen |= {r.code for r in reasons}
        desired = answer
    assert "SLOBudgetBurning" in seen, seen
    burning = next(r for r in reasons if r.code.startswith("SLOBudget"))
    assert "1 % budget" in burning.message and "burn" in burning.message
