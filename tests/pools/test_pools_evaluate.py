"""``rlscale evaluate --service pools``: baselines, HPA per pool, a learned checkpoint, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rlscale.cli.main import app
from rlscale.envs.pools import DELTAS, OBS_SIZE, pools_observation
from rlscale.evaluation.pools import PoolsEvalConfig, evaluate_pools, resolve_pools_policies
from rlscale.nets.checkpoint import FORMAT_VERSION, CheckpointError, save_checkpoint
from rlscale.policies.pools import POOLS_ACTION_MODE, POOLS_OBSERVATION_FEATURES, LearnedPoolsPolicy
from rlscale.sim import pools as ps


def write_pools_checkpoint(path: Path, *, bias: np.ndarray, nvec: tuple[int, ...] = (5, 5, 3)) -> Path:
    """A checkpoint whose output is ``bias`` whatever the input (zero weights): a known action."""
    tensors = {
        "l0.weight": np.zeros((8, OBS_SIZE), dtype=np.float32),
        "l0.bias": np.zeros(8, dtype=np.float32),
        "head.weight": np.zeros((sum(nvec), 8), dtype=np.float32),
        "head.bias": np.asarray(bias, dtype=np.float32),
    }
    metadata = {
        "format_version": FORMAT_VERSION,
        "algorithm": "test",
        "observation_features": list(POOLS_OBSERVATION_FEATURES),
        "action": {
            "mode": POOLS_ACTION_MODE,
            "nvec": list(nvec),
            "deltas": DELTAS.tolist(),
            "max_replicas": [10, 10],
        },
        "network": {
            "layers": [
                {"weight": "l0.weight", "bias": "l0.bias", "activation": "tanh"},
                {"weight": "head.weight", "bias": "head.bias", "activation": "none"},
            ],
            "head": "argmax",
        },
        "service": {"preset": "pools"},
        "training": {},
        "versions": {},
    }
    return save_checkpoint(path, tensors, metadata)


def one_hot_action(gpu: int, cpu: int, placement: int) -> np.ndarray:
    bias = np.zeros(13)
    bias[gpu] = bias[5 + cpu] = bias[10 + placement] = 1.0
    return bias


def test_observation_layout_matches_feature_names() -> None:
    params = ps.pools_preset()
    st = ps.init_state(params, 2, (3, 3))
    obs = pools_observation(params, st, np.array([10.0, 20.0]), np.array([10.0, 10.0]), np.zeros(2))
    assert obs.shape == (2, len(POOLS_OBSERVATION_FEATURES)) == (2, OBS_SIZE)


def test_learned_pools_policy_applies_deltas_and_placement(tmp_path: Path) -> None:
    # index 4 = +2 GPU pods, index 0 = -2 CPU pods, placement 2 (prefer CPU)
    ckpt = write_pools_checkpoint(tmp_path / "p", bias=one_hot_action(4, 0, 2))
    pol = LearnedPoolsPolicy(ckpt)
    desired, placement = pol.act(np.zeros((2, OBS_SIZE), dtype=np.float32), np.array([[3, 1], [9, 5]]))
    assert desired.tolist() == [[5, 0], [10, 3]]  # clipped at 0 and at max 10
    assert placement.tolist() == [2, 2]
    desired, _ = pol.act(np.zeros((1, OBS_SIZE), dtype=np.float32), np.array([[0, 1]]))
    assert desired.tolist() == [[2, 0]]


def test_learned_pools_checkpoint_with_wrong_head_is_refused(tmp_path: Path) -> None:
    ckpt = write_pools_checkpoint(tmp_path / "bad", bias=np.zeros(12), nvec=(5, 5, 2))
    pol_path = tmp_path / "bad"
    meta = json.loads((pol_path / "metadata.json").read_text())
    meta["action"]["nvec"] = [5, 5, 3]  # says 13 outputs, network has 12
    (pol_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"network output 12 does not match action nvec \[5, 5, 3\]"):
        LearnedPoolsPolicy(ckpt)


def test_evaluate_pools_ranks_baselines_and_hpa_scales(tmp_path: Path) -> None:
    ckpt = write_pools_checkpoint(tmp_path / "grow", bias=one_hot_action(3, 3, 1))  # +1 GPU, +1 CPU per step
    config = PoolsEvalConfig(
        policies=["static", "hpa-per-pool", f"learned:{ckpt}"], patterns=["spike"], seeds=2, episode_steps=80
    )
    report, timelines = evaluate_pools(config)
    rows = {(r["pattern"], r["policy"]): r for r in report["results"]}
    assert set(report["config"]["policies"]) == {
        "all-gpu",
        "all-cpu",
        "balanced",
        "hpa-per-pool",
        "learned:grow",
    }
    viol = {p: rows[("spike", p)]["slo_violation_rate"]["mean"] for p in report["config"]["policies"]}
    cost = {p: rows[("spike", p)]["cost_usd"]["mean"] for p in report["config"]["policies"]}
    # CPU pods are cheaper per req/s but 10 of them cannot carry the 100 req/s spike.
    assert viol["all-cpu"] > 10 * viol["all-gpu"]
    assert cost["all-cpu"] < cost["all-gpu"]
    assert rows[("spike", "hpa-per-pool")]["scaling_actions"]["mean"] > 0
    # the always-grow policy ends with both pools full, so it is the most expensive
    grow = timelines[("learned:grow", "spike")]
    assert grow.ready[-1].tolist() == [10.0, 10.0]
    assert cost["learned:grow"] == max(cost.values())
    assert ("all", "balanced") in rows


def test_resolve_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError, match=r"--policy 'kpa': not a pools policy; known: \['static', 'all-gpu'"):
        resolve_pools_policies(["kpa"], ps.pools_preset())


def test_cli_evaluate_service_pools_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--service",
            "pools",
            "--trace",
            "synthetic:ramp",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.stdout == (out / "report.json").read_text()  # --json prints the report as written
    report = json.loads(res.stdout)
    assert report["schema"] == "rlscale.pools_report/1"
    assert {r["policy"] for r in report["results"]} == {"all-gpu", "all-cpu", "balanced", "hpa-per-pool"}
    assert (out / "tradeoff.png").stat().st_size > 1000 and (out / "timeline_ramp.png").exists()
    assert "| ramp | hpa-per-pool |" in (out / "report.md").read_text()
    # one seed: no interval can be claimed (null), the mean is still there
    assert all(r["cost_usd"]["ci95"] is None and r["cost_usd"]["mean"] > 0 for r in report["results"])


def test_cli_evaluate_service_pools_bad_input(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["evaluate", "--service", "pools", "--trace", "nasa", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2
    assert "unknown pools load pattern(s) ['nasa']" in res.output
    assert not (tmp_path / "report.json").exists()


def test_cli_evaluate_service_pools_refuses_options_it_does_not_take(tmp_path: Path) -> None:
    # one CLI path for every service (issue 12): an option of the trace evaluation is refused
    # by name for pools rather than silently ignored
    res = CliRunner().invoke(
        app, ["evaluate", "--service", "pools", "--windows", "2", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2
    assert "--windows does not apply to --service pools" in res.output
    assert not (tmp_path / "r").exists()
