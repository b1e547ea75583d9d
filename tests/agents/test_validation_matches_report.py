"""One metrics vocabulary (issue 12): the run training's validation scores (agents.rollout,
agents.validation.score) gives, read by the report (evaluation.run_metrics.seed_metrics →
evaluation.report.build_report), the same SLO violation rate and cost."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.agents.rollout import run_policy
from rlscale.agents.validation import score
from rlscale.evaluation.report import build_report
from rlscale.evaluation.results import PolicyResult
from rlscale.evaluation.run_metrics import seed_metrics
from rlscale.evaluation.runner import oracle_demand
from rlscale.policies.hpa import HPAPolicy
from rlscale.sim.presets import get_preset
from rlscale.sim.simulator import StepMetrics
from rlscale.sim.variants import warm_start_replicas

WEB = get_preset("web")


def _windows(count: int = 3, steps: int = 160) -> list[np.ndarray]:
    """Steep ramps and drops, so the HPA lags and some requests miss the SLO or are dropped."""
    t = np.arange(steps)
    peak = 0.8 * WEB.spec.pod_capacity_rps * WEB.spec.max_replicas
    return [peak * (0.1 + 0.9 * ((t // (20 + 10 * k)) % 2)) for k in range(count)]


def test_validation_and_report_measure_the_same_run_alike() -> None:
    windows = _windows()
    steps = []
    result = run_policy(
        WEB,
        lambda s, n: HPAPolicy(s, n),
        windows,
        seed=4,
        record=lambda t, sig, desired, m, state: steps.append(m),
    )
    validation = score(result, front=[])
    assert 0.0 < validation["violation_rate"] < 1.0  # a run that does miss the SLO

    rates = np.stack(windows)  # (W, T)
    per_seed = seed_metrics(
        WEB,
        StepMetrics.stack(steps),
        oracle_demand(WEB, rates),
        np.ones(rates.shape, dtype=bool),
        warm_start_replicas(rates[:, 0], WEB.spec),
        windows=len(windows),
        seeds=1,
    )
    row = PolicyResult("hpa", "ramps", per_seed, windows=len(windows), steps_per_window=rates.shape[1])
    report = build_report(service={"preset": "web"}, seeds=1, results=[row])
    (reported,) = [r for r in report["results"] if r["policy"] == "hpa"]

    assert reported["slo_violation_rate"]["mean"] == pytest.approx(validation["violation_rate"], rel=1e-12)
    assert reported["cost_usd"]["mean"] == pytest.approx(validation["cost_usd"], rel=1e-12)
