"""Fleet input (issue 16): --trace DIR|GLOB expands to one service per CSV, a sidecar
NAME.service.json gives that service its own model, and report.json gains a fleet summary
computed from the per-service rows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rlscale.evaluation.harness import EvaluateConfig, EvaluationInputError, prepare, run, run_and_write
from rlscale.sim.presets import get_preset, save_service

POLICIES = ["hpa", "kpa", "static:replicas=6"]


def _csv(path: Path, level: float, hours: float = 1.0) -> Path:
    t = np.arange(int(hours * 60))
    counts = np.round(level * (1.5 + np.sin(t / 9.0)) * 60).astype(int)
    stamps = [f"2024-01-01T{m // 60:02d}:{m % 60:02d}:00Z" for m in t]
    path.write_text(
        "timestamp,requests\n" + "".join(f"{s},{c}\n" for s, c in zip(stamps, counts, strict=True))
    )
    return path


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    d = tmp_path / "fleet"
    d.mkdir()
    for name, level in (("api", 40.0), ("cart", 15.0), ("search", 70.0)):
        _csv(d / f"{name}.csv", level)
    # cart is its own service: a tighter budget and a longer start-up than --service web
    web = get_preset("web")
    cart = replace(web, spec=replace(web.spec, name="cart", slo_budget=0.002), startup_delay_max_s=90.0)
    save_service(cart, d / "cart.service.json")
    (d / "notes.txt").write_text("not a trace")
    return d


def _config(traces: list[str], out: Path | None = None) -> EvaluateConfig:
    return EvaluateConfig(traces=traces, policies=POLICIES, seeds=2, out=out or Path("unused"))


def test_a_directory_is_one_service_per_csv_with_sidecars(fleet_dir: Path, tmp_path: Path) -> None:
    prep = prepare(_config([str(fleet_dir)]))
    assert [Path(t.name).name for t in prep.traces] == ["api.csv", "cart.csv", "search.csv"]
    labels = {
        Path(t.name).name: g.label for g in prep.services for t in (prep.traces[i] for i in g.trace_indices)
    }
    assert labels["api.csv"] == labels["search.csv"] == "web"
    assert labels["cart.csv"].endswith("cart.service.json")
    _, path = run_and_write(prepare(_config([str(fleet_dir)], tmp_path / "rep")))
    on_disk = json.loads(path.read_text())
    fleet = on_disk["fleet"]
    assert fleet["services"] == 3
    assert (path.parent / "fleet_savings.png").stat().st_size > 0
    assert "## Fleet (3 services)" in (path.parent / "report.md").read_text()
    rows = {(r["policy"], Path(r["trace"]).name): r for r in on_disk["results"]}
    budgets = {Path(t).name: s["slo_budget"] for t, s in on_disk["config"]["services"].items()}
    assert budgets == {"api.csv": 0.01, "cart.csv": 0.002, "search.csv": 0.01}
    for item in fleet["policies"]:
        p = item["policy"]
        costs = [rows[(p, s)]["cost_usd"]["mean"] for s in ("api.csv", "cart.csv", "search.csv")]
        assert item["total_cost_usd"] == pytest.approx(sum(costs))
        hpa = [rows[("hpa", s)]["cost_usd"]["mean"] for s in ("api.csv", "cart.csv", "search.csv")]
        assert item["cost_vs_hpa"] == pytest.approx(sum(costs) / sum(hpa))
        kept = [
            rows[(p, s)]["slo_violation_rate"]["mean"] <= budgets[s]
            for s in ("api.csv", "cart.csv", "search.csv")
        ]
        assert item["slo_budget_kept_fraction"] == pytest.approx(np.mean(kept))
        assert len(item["worst_services"]) == 3
    hpa_item = next(i for i in fleet["policies"] if i["policy"] == "hpa")
    assert hpa_item["savings_vs_hpa"]["median"] == pytest.approx(0.0)


def test_sidecar_service_runs_as_if_evaluated_alone(fleet_dir: Path) -> None:
    """The sidecar's service in a fleet gives the numbers of --service SIDECAR on that trace."""
    fleet_report, _ = run(prepare(_config([str(fleet_dir / "*.csv")])))
    alone_report, _ = run(
        prepare(
            EvaluateConfig(
                traces=[str(fleet_dir / "cart.csv")],
                policies=POLICIES,
                seeds=2,
                service=str(fleet_dir / "cart.service.json"),
            )
        )
    )
    cart = [r for r in fleet_report["results"] if r["trace"].endswith("cart.csv")]
    assert [r["policy"] for r in cart] == [r["policy"] for r in alone_report["results"]]
    for a, b in zip(cart, alone_report["results"], strict=True):
        assert a["cost_usd"] == b["cost_usd"] and a["slo_violation_rate"] == b["slo_violation_rate"]


@pytest.mark.parametrize(
    ("make_arg", "needle"),
    [
        (lambda d: str(d / "empty"), "has no *.csv"),
        (lambda d: str(d / "nothing*.csv"), "matches no file"),
    ],
)
def test_an_empty_fleet_is_an_input_error(tmp_path: Path, make_arg, needle: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationInputError, match=needle.replace("*", r"\*")):
        prepare(_config([make_arg(tmp_path)]))


def test_a_bad_sidecar_names_its_file(fleet_dir: Path) -> None:
    (fleet_dir / "api.service.json").write_text('{"spec": {"name": "api"}, "nonsense": 1}')
    with pytest.raises(EvaluationInputError, match=r"api\.service\.json"):
        prepare(_config([str(fleet_dir)]))
