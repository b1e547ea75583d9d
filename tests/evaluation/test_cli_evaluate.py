"""`rlscale evaluate` through typer's CliRunner: bad input exits 2 and writes nothing; a small
end-to-end run writes a schema-valid report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from tests.evaluation.test_report import validate_report
from typer.testing import CliRunner

from rlscale.cli.evaluate import register

TRACE = "synthetic:periodic?steps=60&seed=3"


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command("noop")
    def _noop() -> None:  # a second command keeps typer from collapsing the group
        pass

    return a


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--policy", "hpa:target=abc"], "must be a number"),
        (["--policy", "nosuchpolicy"], "unknown policy"),
        (["--service", "nosuchpreset"], "unknown service preset"),
        (["--trace", "/nonexistent/trace.csv"], "no such file"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    app: typer.Typer, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "rep"
    base = ["evaluate", "--trace", TRACE, "--policy", "hpa", "--seeds", "1", "--out", str(out)]
    result = CliRunner().invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_end_to_end_small_evaluation(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--trace",
            TRACE,
            "--policy",
            "hpa",
            "--policy",
            "keda",
            "--policy",
            "hpa-frontier:lo=50,hi=90,step=20",
            "--seeds",
            "2",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    validate_report(data)
    assert data == json.loads((out / "report.json").read_text())
    assert [r["policy"] for r in data["results"]] == ["hpa", "keda", "oracle"]
    assert [p["target_pct"] for p in data["frontiers"][0]["points"]] == [50, 70, 90]
    assert data["seeds"] == 2 and data["service"]["name"] == "web"
    assert "rlscale evaluate" in data["config"]["command"]
    oracle = data["results"][2]
    assert oracle["cost_vs_oracle"]["mean"] == pytest.approx(1.0)
    for r in data["results"]:
        assert (
            r["cost_usd"]["mean"] >= oracle["cost_usd"]["mean"]
            or r["slo_violation_rate"]["mean"] > oracle["slo_violation_rate"]["mean"]
        )
    names = sorted(p.name for p in out.iterdir())
    assert "report.md" in names and any(n.startswith("frontier_") for n in names)
    assert any(n.startswith("timeline_") for n in names)
