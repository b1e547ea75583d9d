"""The batched runner: common random numbers, warm starts, the oracle as a lower bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlscale.evaluation.runner import (
    EvalTrace,
    arrival_counts,
    evaluate,
    oracle_demand,
    oracle_schedules,
)
from rlscale.evaluation.specs import resolve_policies
from rlscale.sim.presets import get_preset

WEB = get_preset("web")


def _ramp_trace(steps: int = 60, windows: int = 2) -> EvalTrace:
    t = np.arange(steps)
    cap = float(WEB.mu_rps)
    rates = np.stack([cap * (2 + 8 * (t / steps)) * (1 + 0.2 * w) for w in range(windows)])
    return EvalTrace("ramp", rates)


def test_arrival_counts_are_common_random_numbers() -> None:
    tr = _ramp_trace()
    a = arrival_counts(tr, 3, 15.0, base_seed=7)
    b = arrival_counts(tr, 3, 15.0, base_seed=7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 60)
    assert not np.array_equal(a[0], a[1])  # seeds differ
    # a window's stream does not depend on how many windows or seeds are evaluated
    one = arrival_counts(EvalTrace("ramp", tr.rates_rps[:1]), 1, 15.0, base_seed=7)
    np.testing.assert_array_equal(one[0], a[0])


def test_every_policy_sees_the_same_requests_and_warm_start() -> None:
    entries, _ = resolve_policies(["static:replicas=3", "hpa", "keda"], WEB.spec)
    results = evaluate(WEB, [_ramp_trace()], entries, seeds=2)
    offered = [r.per_seed["offered_requests"] for r in results]
    for o in offered[1:]:
        np.testing.assert_array_equal(o, offered[0])
    oracle = next(r for r in results if r.policy == "oracle")
    demand = oracle_demand(WEB, _ramp_trace().rates_rps)
    schedule = oracle_schedules(WEB, demand)
    # warm start: the first step is served by the oracle's step-0 replicas for every policy
    for r in results:
        assert r.timeline is not None
        assert r.timeline.ready_replicas[0] == pytest.approx(schedule[0, 0]) or r.policy.startswith("static")
    assert oracle.timeline is not None
    assert np.all(oracle.timeline.ready_replicas >= np.minimum(demand[0], WEB.spec.max_replicas))


def test_oracle_is_cheap_and_meets_the_slo() -> None:
    entries, _ = resolve_policies(["static:replicas=20"], WEB.spec)
    results = evaluate(WEB, [_ramp_trace()], entries, seeds=2)
    static, oracle = results
    assert oracle.per_seed["slo_violation_rate"].max() < 0.01
    assert oracle.per_seed["cost_usd"].max() < static.per_seed["cost_usd"].min()
    assert oracle.per_seed["theta_u"].max() == 0.0  # never under its own demand
    assert np.all(static.per_seed["tau_o"] > 90.0)


def test_gap_steps_are_excluded_from_metrics() -> None:
    tr = _ramp_trace(windows=1)
    valid = np.ones(tr.rates_rps.shape, dtype=bool)
    valid[0, 20:30] = False
    masked = EvalTrace("ramp", tr.rates_rps, valid=valid)
    entries, _ = resolve_policies(["static:replicas=5"], WEB.spec)
    full = evaluate(WEB, [tr], entries[:1], seeds=1)[0]
    part = evaluate(WEB, [masked], entries[:1], seeds=1)[0]
    assert part.per_seed["pod_hours"][0] == pytest.approx(full.per_seed["pod_hours"][0] * 50 / 60)
    assert part.per_seed["offered_requests"][0] < full.per_seed["offered_requests"][0]
    assert any("gap steps" in n for n in part.notes)


BASELINES = st.sampled_from(
    [
        "hpa",
        "hpa:target=50",
        "hpa:target=95",
        "keda",
        "kpa",
        "predictive",
        "threshold",
        "static:replicas=4",
        "static:replicas=8",
        "hpa:target=70,behavior=default",
    ]
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    levels=st.lists(st.floats(0.3, 12.0), min_size=2, max_size=4),
    baseline=BASELINES,
    seed=st.integers(0, 1000),
)
def test_no_baseline_beats_the_oracle(levels: list[float], baseline: str, seed: int) -> None:
    """No baseline has lower cost at an equal or lower violation rate than the oracle."""
    cap = float(WEB.mu_rps)
    rates = np.repeat(np.asarray(levels) * cap, 10)[None, :]
    entries, _ = resolve_policies([baseline], WEB.spec)
    base, oracle = evaluate(WEB, [EvalTrace("rand", rates)], entries, seeds=1, base_seed=seed)
    cheaper = base.per_seed["cost_usd"][0] < oracle.per_seed["cost_usd"][0] * (1 - 1e-9)
    no_worse = base.per_seed["slo_violation_rate"][0] <= oracle.per_seed["slo_violation_rate"][0]
    assert not (cheaper and no_worse), (baseline, levels, base.per_seed, oracle.per_seed)
