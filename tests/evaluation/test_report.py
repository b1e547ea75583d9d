"""report.json schema, report.md content, plots and the all-or-nothing write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlscale.evaluation import report as rep
from rlscale.evaluation.results import METRIC_KEYS, SCORE_KEYS, PolicyResult

ISSUE_KEYS = (
    "slo_violation_rate",
    "p95_latency_s",
    "p99_latency_s",
    "pod_hours",
    "cpu_core_hours",
    "cost_usd",
    "scaling_actions_per_hour",
    "theta_u",
    "theta_o",
    "tau_u",
    "tau_o",
    "instability",
    "jitter",
    "cost_vs_hpa_frontier",
    "cost_vs_oracle",
    "hpa_oracle_gap_closed",
)


def _stat_ok(stat: object) -> bool:
    return (
        isinstance(stat, dict)
        and set(stat) == {"mean", "ci95"}
        and all(v is None or isinstance(v, float) for v in stat.values())
    )


def validate_report(data: dict) -> None:
    """The issue-3 schema (shared with the CLI tests)."""
    assert isinstance(data["service"], dict) and data["service"]
    assert isinstance(data["seeds"], int) and data["seeds"] >= 1
    assert isinstance(data["results"], list) and data["results"]
    for row in data["results"]:
        assert isinstance(row["policy"], str) and isinstance(row["trace"], str)
        for key in (*ISSUE_KEYS, *METRIC_KEYS, *SCORE_KEYS):
            assert _stat_ok(row[key]), (row["policy"], key, row[key])
        assert isinstance(row["notes"], list)
    for f in data["frontiers"]:
        for p in f["points"]:
            assert isinstance(p["pareto"], bool)
            assert _stat_ok(p["slo_violation_rate"]) and _stat_ok(p["cost_usd"])


def _report(results: list[PolicyResult]) -> dict:
    return rep.build_report(
        service={"name": "svc", "slo_latency_s": 0.2, "pod_capacity_rps": 10.0},
        seeds=3,
        results=results,
        config={"command": "rlscale evaluate"},
    )


def test_report_schema_and_scores(sample_results: list[PolicyResult]) -> None:
    data = json.loads(rep.report_json_text(_report(sample_results)))
    validate_report(data)
    policies = [r["policy"] for r in data["results"]]
    assert policies == ["hpa", "keda", "kpa", "oracle"]  # the sweep is under "frontiers"
    keda = data["results"][1]
    # frontier (0.004, 8) -> (0.010, 6): at 0.007 cost 7; keda costs 5
    assert keda["cost_vs_hpa_frontier"]["mean"] == pytest.approx(5 / 7, rel=0.02)
    assert keda["cost_vs_oracle"]["mean"] == pytest.approx(5 / 3)
    assert keda["hpa_oracle_gap_closed"]["mean"] == pytest.approx((7 - 5) / (7 - 3), rel=0.05)
    kpa = data["results"][2]
    assert kpa["cost_vs_hpa_frontier"] == {"mean": None, "ci95": None}
    assert any("more violations" in n for n in kpa["notes"])
    oracle = data["results"][3]
    assert oracle["cost_vs_oracle"]["mean"] == pytest.approx(1.0)
    assert any("fewest" in n for n in oracle["notes"])
    front = data["frontiers"][0]["points"]
    assert [p["target_pct"] for p in front] == [40, 60, 80, 95]
    assert all(p["pareto"] for p in front)


def test_seed_count_mismatch_is_refused(sample_results: list[PolicyResult]) -> None:
    with pytest.raises(ValueError, match="seeds"):
        rep.build_report(service={}, seeds=5, results=sample_results)


def test_write_report_creates_everything(tmp_path: Path, sample_results: list[PolicyResult]) -> None:
    out = tmp_path / "rep"
    path = rep.write_report(out, _report(sample_results), sample_results)
    assert path == out / "report.json"
    validate_report(json.loads(path.read_text()))
    md = (out / "report.md").read_text()
    assert "![frontier_t.png](frontier_t.png)" in md and "timeline_t.png" in md
    assert "oracle" in md.lower() and "| keda |" in md
    for name in ("frontier_t.png", "timeline_t.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temp dir left


def test_failed_write_leaves_no_partial_report(
    tmp_path: Path, sample_results: list[PolicyResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(rep, "plot_timeline", boom)
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError, match="plotting failed"):
        rep.write_report(out, _report(sample_results), sample_results)
    assert list(tmp_path.iterdir()) == []

    # an existing report stays exactly as it was
    out.mkdir()
    (out / "report.json").write_text("old")
    with pytest.raises(RuntimeError):
        rep.write_report(out, _report(sample_results), sample_results)
    assert (out / "report.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_nan_becomes_null() -> None:
    text = rep.report_json_text({"x": float("nan"), "y": [float("inf"), 1.0]})
    assert json.loads(text) == {"x": None, "y": [None, 1.0]}
