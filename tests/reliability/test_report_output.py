"""Report output (issue 14, case 8): two traces whose paths share a 60-character slug get
their own plots, and a new report never mixes with the plots of an older one."""

from __future__ import annotations

from pathlib import Path

from tests.evaluation.conftest import make_result
from tests.reliability.cli_harness import invoke

from rlscale.evaluation import report as rep

PREFIX = "/data/traces/" + "x" * 60


def results_for(traces: list[str]) -> list:
    out = []
    for trace in traces:
        out.append(make_result("hpa", [0.01, 0.012], [7.0, 7.2], trace=trace, timeline=True))
        for t, v, c in [(60, 0.004, 8.0), (80, 0.010, 6.0)]:
            out.append(make_result(f"hpa:target={t}", [v, v], [c, c], trace=trace, target=t))
    return out


def write(out: Path, traces: list[str]) -> str:
    results = results_for(traces)
    report = rep.build_report(service={"name": "svc", "slo_latency_s": 0.2}, seeds=2, results=results)
    rep.write_report(out, report, results)
    return (out / "report.md").read_text()


def test_traces_sharing_a_slug_get_their_own_plots(tmp_path: Path) -> None:
    a, b = f"{PREFIX}/a.csv", f"{PREFIX}/b.csv"
    md = write(tmp_path / "rep", [a, b])
    frontiers = sorted(p.name for p in (tmp_path / "rep").glob("frontier_*.png"))
    timelines = sorted(p.name for p in (tmp_path / "rep").glob("timeline_*.png"))
    assert len(frontiers) == 2 and len(timelines) == 2  # one each, none overwritten
    for name in frontiers + timelines:
        assert f"({name})" in md
    slugs = rep.plot_slugs(["a b", "a_b", "c"])
    assert slugs["c"] == "c" and len(set(slugs.values())) == 3


def test_a_new_report_removes_the_plots_of_an_older_one(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    write(out, ["old-trace"])
    (out / "notes.txt").write_text("mine")  # not the report's: left alone
    assert (out / "frontier_old-trace.png").exists()
    write(out, ["new-trace"])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["frontier_new-trace.png", "timeline_new-trace.png"]
    assert (out / "notes.txt").read_text() == "mine"


def test_a_new_pools_report_removes_the_plots_of_an_older_one(tmp_path: Path) -> None:
    out = tmp_path / "pools"
    for pattern in ("ramp", "spike"):
        outcome = invoke(
            [
                "evaluate",
                "--service",
                "pools",
                "--trace",
                f"synthetic:{pattern}",
                "--seeds",
                "1",
                "--out",
                str(out),
            ]
        )
        assert outcome.exit_code == 0, outcome.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["timeline_spike.png", "tradeoff.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
