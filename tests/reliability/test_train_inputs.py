"""``rlscale train`` refuses bad flags and unusable resume state before any work (issue 14,
case 12): each gets a ValueError naming the flag or the file, never a hang or a traceback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rlscale.agents.train import TrainConfig

pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"eval_every": 0}, "--eval-every"),
        ({"eval_every": 2, "num_envs": 4}, "--eval-every"),
        ({"timesteps": -5}, "--timesteps"),
        ({"slo_weight": math.nan}, "--slo-weight"),
        ({"slo_weight": -1.0}, "--slo-weight"),
        ({"learning_rate": math.inf}, "--learning-rate"),
        ({"num_envs": 0}, "--num-envs"),
        ({"randomize_service": 1.5}, "--randomize-service"),
        ({"algo": "nosuch"}, "--algo"),
    ],
)
def test_bad_flags_are_named(tmp_path: Path, overrides: dict[str, object], named: str) -> None:
    cfg = TrainConfig(out=str(tmp_path / "run"), **overrides)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=named):
        cfg.validate()


def test_out_must_be_a_writable_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(ValueError, match=r"--out .* is a file"):
            TrainConfig(out=str(out)).validate()


def test_resume_needs_a_saved_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--resume: nothing to resume: .*state\.json does not exist"):
        TrainConfig(out=str(tmp_path), resume=True).validate()
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"resume/state\.json is unreadable or corrupt"):
        TrainConfig(out=str(tmp_path), resume=True).validate()
    (tmp_path / "resume" / "state.json").write_text(json.dumps({"num_timesteps": 10, "algo": "a2c"}))
    with pytest.raises(ValueError, match="trained with --algo a2c, not ppo"):
        TrainConfig(out=str(tmp_path), resume=True, algo="ppo").validate()


def _model(algo: str) -> object:
    from rlscale.agents.train import make_env, make_model

    cfg = TrainConfig(algo=algo, num_envs=2)
    t = np.arange(400, dtype=float)
    return make_model(cfg, make_env(cfg, [100 + 50 * np.sin(t / 30)], 2, seed=0), None)


def test_a_truncated_or_foreign_resume_state_is_named(tmp_path: Path) -> None:
    from rlscale.agents.resume import load_resume_state, save_resume_state

    ppo = _model("ppo")
    save_resume_state(ppo, tmp_path / "resume", {"algo": "ppo"})
    with pytest.raises(ValueError, match=r"optimizer\.pt cannot be restored"):
        load_resume_state(_model("a2c"), tmp_path / "resume")  # RMSprop vs Adam: was KeyError 'square_avg'
    weights = tmp_path / "resume" / "policy.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"policy\.safetensors cannot be restored"):
        load_resume_state(ppo, tmp_path / "resume")
