"""Hand-made evaluation results for the report, scoring and schema tests."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.evaluation.results import METRIC_KEYS, PolicyResult, Timeline


def make_result(
    policy: str,
    violation: list[float],
    cost: list[float],
    *,
    trace: str = "t",
    target: float | None = None,
    timeline: bool = False,
) -> PolicyResult:
    n = len(violation)
    per_seed = {k: np.linspace(1.0, 2.0, n) for k in METRIC_KEYS}
    per_seed["slo_violation_rate"] = np.asarray(violation, dtype=float)
    per_seed["cost_usd"] = np.asarray(cost, dtype=float)
    tl = None
    if timeline:
        t = np.arange(20) * 15.0
        tl = Timeline(
            time_s=t,
            arrival_rate_rps=10 + np.sin(t / 60),
            demand_replicas=np.full(20, 3.0),
            ready_replicas=np.full(20, 3.0),
            desired_replicas=np.full(20, 3.0),
            latency_p95_s=np.full(20, 0.05),
        )
    return PolicyResult(
        policy=policy,
        trace=trace,
        per_seed=per_seed,
        windows=2,
        steps_per_window=20,
        timeline=tl,
        frontier_target_pct=target,
    )


@pytest.fixture
def sample_results() -> list[PolicyResult]:
    sweep = [
        make_result(f"hpa:target={t}", [v, v * 1.1, v * 0.9], [c, c * 1.01, c * 0.99], target=t)
        for t, v, c in [(40, 0.001, 10.0), (60, 0.004, 8.0), (80, 0.010, 6.0), (95, 0.03, 5.0)]
    ]
    return [
        make_result("hpa", [0.012, 0.013, 0.011], [7.0, 7.1, 6.9], timeline=True),
        make_result("keda", [0.007, 0.007, 0.007], [5.0, 5.0, 5.0], timeline=True),
        make_result("kpa", [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], timeline=True),
        make_result("oracle", [0.0005, 0.0005, 0.0005], [3.0, 3.0, 3.0], timeline=True),
        *sweep,
    ]
