"""The SLO-budget view: the tuned-HPA reference against a hand-built sweep, budget objects in
report.json, and the warm-up left out of every metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.evaluation.conftest import make_result

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.evaluation.budget import (
    TUNED_HPA_TARGETS_PCT,
    budget_object,
    check_budgets,
    reference_specs,
    tuned_reference,
)
from rlscale.evaluation.harness import EvaluateConfig, EvaluationInputError, prepare, run_and_write
from rlscale.evaluation.report import build_report
from rlscale.evaluation.runner import EvalTrace, PolicyEntry, evaluate
from rlscale.policies.simple import StaticPolicy
from rlscale.sim.presets import load_service


def _sweep() -> list:
    # (violations per seed, cost per seed): the cheaper, the more violations
    return [
        make_result("hpa:target=30", [0.001, 0.003], [10.0, 12.0]),
        make_result("hpa:target=60", [0.008, 0.010], [5.5, 6.5]),  # 0.9 %, 6.0 mean
        make_result("hpa:target=90", [0.030, 0.050], [4.0, 4.0]),
        make_result("static:replicas=8", [0.0, 0.0], [9.0, 9.0]),
        make_result("static:replicas=3", [0.004, 0.004], [6.5, 6.5]),  # 0.4 %, 6.5 mean: cheapest at 0.5 %
    ]


def test_the_tuned_reference_is_the_cheapest_setting_that_keeps_the_budget() -> None:
    sweep = _sweep()
    assert tuned_reference(sweep, 0.005).policy == "static:replicas=3"
    assert tuned_reference(sweep, 0.01).policy == "hpa:target=60"
    assert tuned_reference(sweep, 0.05).policy == "hpa:target=90"
    assert tuned_reference(sweep, 0.0005) is not None  # static 8 keeps even that
    assert tuned_reference(sweep[:3], 0.0005) is None  # no HPA setting does


def test_budget_object_pairs_seeds_against_the_reference() -> None:
    ref = tuned_reference(_sweep(), 0.01)
    assert ref is not None and ref.policy == "hpa:target=60"
    policy = make_result("learned", [0.004, 0.012], [3.0, 7.0])
    obj = budget_object(policy, 0.01, ref)
    assert obj["budget_kept"] is True  # mean 0.8 % <= 1 %
    assert obj["seeds_kept"] == 0.5  # seed 2 alone is over
    assert obj["cost_vs_tuned_hpa"]["mean"] == pytest.approx((3.0 / 5.5 + 7.0 / 6.5) / 2)
    assert obj["tuned_hpa_policy"] == "hpa:target=60"
    assert budget_object(policy, 0.005, None)["cost_vs_tuned_hpa"] == {"mean": None, "ci95": None}


def test_reference_specs_cover_the_targets_and_every_count() -> None:
    specs = reference_specs(ServiceSpec("s", 10.0, 0.2, min_replicas=2, max_replicas=5))
    assert specs[: len(TUNED_HPA_TARGETS_PCT)] == [f"hpa:target={t}" for t in range(10, 96, 5)]
    assert specs[len(TUNED_HPA_TARGETS_PCT) :] == [f"static:replicas={n}" for n in (2, 3, 4, 5)]


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.01, float("nan")])
def test_bad_budgets_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="--slo-budget"):
        check_budgets([0.01, bad])


def test_report_rows_carry_budget_objects_and_the_reference_runs_have_no_rows() -> None:
    sweep = _sweep()
    for r in sweep:
        r.reference_only = True
    learned = make_result("learned:budget=0.01", [0.004, 0.006], [5.0, 5.0])
    learned.slo_budget = 0.01
    hpa = make_result("hpa", [0.02, 0.02], [5.0, 5.0])
    report = build_report(
        service={},
        seeds=2,
        results=[*sweep, learned, hpa],
        budgets=[0.005, 0.01],
        reference_policies={r.policy for r in sweep},
    )
    rows = {r["policy"]: r for r in report["results"]}
    assert set(rows) == {"learned:budget=0.01", "hpa"}
    assert [b["slo_budget"] for b in rows["learned:budget=0.01"]["budgets"]] == [0.01]  # its own budget
    assert [b["slo_budget"] for b in rows["hpa"]["budgets"]] == [0.005, 0.01]
    assert rows["hpa"]["budgets"][1]["budget_kept"] is False
    refs = {(x["trace"], x["slo_budget"]): x["reference"]["policy"] for x in report["tuned_hpa"]}
    assert refs == {("t", 0.005): "static:replicas=3", ("t", 0.01): "hpa:target=60"}


class _WildDuringWarmup:
    """Asks for the maximum during its first ``wild_steps`` periods, then holds ``replicas``."""

    def __init__(self, spec: ServiceSpec, num_envs: int, wild_steps: int, replicas: int) -> None:
        self.name, self.spec, self.num_envs = "wild", spec, num_envs
        self.wild_steps, self.replicas, self.t = wild_steps, replicas, 0

    def act(self, signals: ScalingSignals) -> np.ndarray:
        self.t += 1
        n = self.spec.max_replicas if self.t <= self.wild_steps else self.replicas
        return np.full(self.num_envs, n, dtype=np.int64)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self.t = 0


def test_a_policy_that_misbehaves_only_during_warm_up_scores_as_if_it_had_not() -> None:
    params = load_service("web")
    warm = 40
    rates = 20.0 + 10.0 * np.sin(np.arange(200) / 15.0)
    valid = np.ones((1, 200), dtype=bool)
    valid[:, :warm] = False
    trace = EvalTrace("sine", rates[None, :], valid)
    entries = [
        PolicyEntry("wild", make=lambda spec, n: _WildDuringWarmup(spec, n, warm, 4)),
        PolicyEntry("static", make=lambda spec, n: StaticPolicy(spec, n, replicas=4)),
    ]
    wild, static = evaluate(params, [trace], entries, seeds=2)
    for key in ("slo_violation_rate", "cost_usd", "pod_hours", "avg_replicas", "p95_latency_s"):
        np.testing.assert_allclose(wild.per_seed[key], static.per_seed[key], rtol=1e-12, err_msg=key)
    # without the warm-up mask the same runs differ (the wild start costs)
    trace_all = EvalTrace("sine", rates[None, :])
    wild_all, static_all = evaluate(params, [trace_all], entries, seeds=2)
    assert wild_all.mean("cost_usd") > static_all.mean("cost_usd")


def test_evaluate_with_budgets_and_warm_up_writes_the_budget_view(tmp_path: Path) -> None:
    cfg = EvaluateConfig(
        traces=["synthetic:periodic?steps=240&seed=3"],
        policies=["hpa", "learned"],
        seeds=2,
        out=tmp_path / "rep",
        warmup_hours=0.25,
        slo_budgets=[0.02, 0.005],
    )
    prep = prepare(cfg)
    assert prep.warmup_steps == 60 and prep.budgets == [0.005, 0.02]
    assert not prep.traces[0].valid[:, :60].any() and prep.traces[0].valid[:, 60:].all()
    _report, path = run_and_write(prep)
    saved = json.loads(path.read_text())
    rows = {r["policy"]: r for r in saved["results"]}
    assert {"hpa", "learned:budget=0.005", "learned:budget=0.02", "oracle"} <= set(rows)
    assert not any(p.startswith("static:") for p in rows)  # reference runs have no rows
    for b in rows["hpa"]["budgets"]:
        assert set(b) == {"slo_budget", "budget_kept", "seeds_kept", "cost_vs_tuned_hpa", "tuned_hpa_policy"}
        assert b["tuned_hpa_policy"] is not None
    assert saved["config"]["warmup_hours"] == 0.25 and saved["config"]["slo_budgets"] == [0.005, 0.02]
    assert "SLO budgets" in (path.parent / "report.md").read_text()


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"warmup_hours": 5.0}, "nothing to score"), ({"warmup_hours": float("inf")}, "--warmup-hours")],
)
def test_bad_warm_up_is_refused_before_any_run(change: dict, needle: str) -> None:
    cfg = EvaluateConfig(traces=["synthetic:periodic?steps=240&seed=3"], policies=["hpa"], seeds=1, **change)
    with pytest.raises(EvaluationInputError, match=needle):
        prepare(cfg)
