"""A checkpoint whose metadata action mode does not match its network (issue 14, case 4) is
refused when loaded, naming the file, before any step: ``delta`` crashed mid-run and
``utilization`` silently ran a wrong policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.reliability.cli_harness import assert_clear_error, invoke

from rlscale.core import OBSERVATION_FEATURES, ServiceSpec
from rlscale.nets.checkpoint import CheckpointError, save_checkpoint
from rlscale.policies.learned import LearnedPolicy

SPEC = ServiceSpec("web", pod_capacity_rps=100.0, slo_latency_s=0.2)


def checkpoint(path: Path, mode: str, head: str, outputs: int) -> Path:
    rng = np.random.default_rng(0)
    d = len(OBSERVATION_FEATURES)
    tensors = {
        "l0.weight": rng.normal(size=(8, d)).astype(np.float32),
        "l0.bias": np.zeros(8, np.float32),
        "l1.weight": rng.normal(size=(outputs, 8)).astype(np.float32),
        "l1.bias": np.zeros(outputs, np.float32),
    }
    meta = {
        "format_version": 1,
        "algorithm": "ppo",
        "observation_features": list(OBSERVATION_FEATURES),
        "action": {"mode": mode},
        "network": {
            "layers": [
                {"weight": "l0.weight", "bias": "l0.bias", "activation": "tanh"},
                {"weight": "l1.weight", "bias": "l1.bias", "activation": "none"},
            ],
            "head": head,
            "low": [0.3],
            "high": [1.0],
        },
        "service": {"preset": "web"},
        "training": {"command": "test", "seed": 0},
        "versions": {"rlscale": "0.1.0"},
    }
    return save_checkpoint(path, tensors, meta)


@pytest.mark.parametrize(
    ("mode", "head", "outputs"),
    [("delta", "box", 1), ("delta", "argmax", 5), ("utilization", "argmax", 3), ("utilization", "box", 2)],
)
def test_a_mismatched_head_is_refused_at_load(tmp_path: Path, mode: str, head: str, outputs: int) -> None:
    path = checkpoint(tmp_path / "ck", mode, head, outputs)
    with pytest.raises(CheckpointError, match=rf"metadata\.json: action mode '{mode}' needs"):
        LearnedPolicy(SPEC, 1, path)


@pytest.mark.parametrize(("mode", "head", "outputs"), [("delta", "argmax", 3), ("utilization", "box", 1)])
def test_a_matching_head_loads(tmp_path: Path, mode: str, head: str, outputs: int) -> None:
    LearnedPolicy(SPEC, 1, checkpoint(tmp_path / "ck", mode, head, outputs))


def test_evaluate_refuses_it_before_the_first_step(tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "ck", "delta", "box", 1)
    outcome = invoke(
        [
            "evaluate",
            "--policy",
            f"learned:{path}",
            "--trace",
            "synthetic:spike",
            "--seeds",
            "1",
            "--windows",
            "1",
            "--out",
            str(tmp_path / "report"),
        ]
    )
    assert_clear_error(outcome, "action mode 'delta' needs")
    assert not (tmp_path / "report" / "report.json").exists()
