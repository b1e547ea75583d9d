"""Seed 000's HPA rule and the lipari2025 reproduction harness."""

from __future__ import annotations

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.evaluation.reproduce import PUBLISHED_HPA, Seed000HPA, reproduce_lipari2025
from rlscale.sim.presets import get_preset

SPEC = get_preset("lipari2025").spec  # mu 0.8 req/s, 1..13 replicas


def _signals(replicas: list[float], rate: list[float]) -> ScalingSignals:
    n = len(replicas)
    z = np.zeros(n)
    return ScalingSignals(
        time_s=z,
        desired_replicas=np.asarray(replicas, dtype=float),
        ready_replicas=np.asarray(replicas, dtype=float),
        pending_replicas=z,
        request_rate_rps=np.asarray(rate, dtype=float),
        cpu_utilization=z,
        latency_p95_s=z,
        backlog_requests=z,
        dropped_rps=z,
    )


def test_seed000_hpa_formula() -> None:
    pol = Seed000HPA(SPEC, 4)
    # N=4, λ=2.4 req/s: cpu = 100·2.4/3.2 = 75 % -> ceil(4·75/60) = 5
    # N=2, λ=4.0: cpu = min(250, 150) = 150 % -> ceil(2·2.5) = 5 (the seed's 150 % cap)
    # N=5, λ=0.1: cpu = 2.5 % -> ceil(0.208) = 1
    # N=13, λ=20: capped at max 13
    out = pol.act(_signals([4, 2, 5, 13], [2.4, 4.0, 0.1, 20.0]))
    np.testing.assert_array_equal(out, [5, 5, 1, 13])


def test_reproduction_runs_and_reports_both_definitions() -> None:
    out = reproduce_lipari2025(steps=240)
    assert out["published_hpa"] == PUBLISHED_HPA
    policies = [r["policy"] for r in out["results"]]
    assert policies == ["seed000-hpa:target=60", "hpa:target=60", "oracle"]
    for r in out["results"]:
        assert 1.0 <= r["avg_replicas"] <= 13.0
        assert 0.0 <= r["slo_violation_rate_steps"] <= 1.0
        assert 0.0 <= r["slo_violation_rate_requests"] <= 1.0
    oracle = out["results"][2]
    assert oracle["slo_violation_rate_requests"] == 0.0  # deterministic arrivals, no start-up delay
    assert oracle["avg_replicas"] <= out["results"][0]["avg_replicas"]
