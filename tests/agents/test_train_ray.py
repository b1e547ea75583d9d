"""rlscale train --ray local (issue 16): Ray Tune runs one ordinary training run per seed, the
best trial's checkpoint is promoted to OUT/best and loads as learned:PATH; the test starts and
stops its own local Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")

from rlscale.agents.distributed import parse_grid, train_on_ray  # noqa: E402
from rlscale.agents.train import TrainConfig  # noqa: E402


def test_train_on_ray_local_promotes_the_best_trial(tmp_path: Path) -> None:
    cfg = TrainConfig(
        algo="ppo",
        traces=["synthetic:spike", "synthetic:periodic"],
        timesteps=1024,
        num_envs=4,
        n_steps=128,
        window_steps=160,
        episode_steps=80,
        windows_per_trace=3,
        eval_every=512,
        out=str(tmp_path / "run"),
        command="rlscale train --ray local --test",
    )
    try:
        summary = train_on_ray(cfg, "local", seeds=[0, 1], num_cpus=2)
        assert not ray.is_initialized()  # the local Ray it started is gone
    finally:
        ray.shutdown()
    trials = summary["trials"]
    assert len(trials) == 2 and all("key" in t for t in trials)
    assert {t["config"]["seed"] for t in trials} == {0, 1}
    winner = min(trials, key=lambda t: tuple(t["key"]))
    assert summary["winner"]["out"] == winner["out"]
    best = tmp_path / "run" / "best"
    # the promoted checkpoint is the winning trial's, byte for byte, and loads as a policy
    for f in (Path(winner["out"]) / "best").iterdir():
        assert (best / f.name).read_bytes() == f.read_bytes()
    from rlscale.policies.registry import build_policy, parse_policy_spec
    from rlscale.sim.presets import get_preset

    policy = build_policy(parse_policy_spec(f"learned:{best}"), get_preset("web").spec, 3)
    from rlscale.core.signals import ScalingSignals

    sig = ScalingSignals(*(np.full(3, v) for v in (0.0, 4, 4, 0, 40.0, 0.6, 0.05, 0.0, 0.0)))
    assert policy.act(sig).shape == (3,)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["best"] == str(best.resolve())


def test_parse_grid_names_a_bad_item() -> None:
    assert parse_grid(["learning_rate=1e-4,3e-4", "slo-weight=10"]) == {
        "learning_rate": [1e-4, 3e-4],
        "slo_weight": [10.0],
    }
    with pytest.raises(ValueError, match=r"gamma=0\.9"):
        parse_grid(["gamma=0.9"])
