"""Real (small, seeded) training: PPO beats a static policy on a small env; the same seed
gives the same actions; the train pipeline writes a loadable checkpoint and resumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rlscale.envs.sb3 import SB3VecEnv
from rlscale.envs.vector import AutoscaleVectorEnv

torch.set_num_threads(1)


def _env(seed: int, n: int = 16, action_mode: str = "target") -> SB3VecEnv:
    # load swinging between ~0.5 and ~18 pods worth: a static replica
    # count must either overprovision or violate, a policy that follows the load need not
    t = np.arange(960, dtype=float)
    windows = [50.0 + 1850.0 * (0.5 + 0.5 * np.sin(2 * np.pi * t / p)) for p in (160.0, 240.0, 320.0)]
    return SB3VecEnv(
        AutoscaleVectorEnv(
            num_envs=n,
            service="web",
            load_windows=windows,
            episode_steps=120,
            action_mode=action_mode,
            seed=seed,
        )
    )


def _mean_return(model_or_action: object, seed: int, action_mode: str = "target", steps: int = 120) -> float:
    """Mean return of a model, or of a fixed raw action (a static replica count in ``target`` mode)."""
    env = _env(seed, action_mode=action_mode)
    obs = env.reset()
    total = np.zeros(env.num_envs)
    for _ in range(steps):
        if isinstance(model_or_action, float):
            action = np.full((env.num_envs, 1), model_or_action, dtype=np.float32)
        else:
            action, _ = model_or_action.predict(obs, deterministic=True)  # type: ignore[attr-defined]
        obs, reward, _, _ = env.step(action)
        total += reward
    return float(total.mean())


def _ppo(seed: int, steps: int, action_mode: str = "target") -> object:
    from stable_baselines3 import PPO

    model = PPO(
        "MlpPolicy",
        _env(seed, action_mode=action_mode),
        n_steps=32,
        batch_size=128,
        n_epochs=5,
        learning_rate=1e-3,
        gamma=0.9,
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": [32, 32], "log_std_init": -0.5},
    )
    if steps:
        model.learn(steps)
    return model


def test_short_training_beats_every_static_policy_and_its_own_start() -> None:
    """PPO in the utilization action space, three seeds: each trained policy beats the best
    static replica count (chosen with hindsight on the evaluation episodes) by 10 %, and on
    average it improved on its untrained start by 2 % (the start already follows the load at
    u = 0.65, so this is the part that was learned; measured 3.7-8.2 % per seed)."""
    statics = {a: _mean_return(a, seed=11) for a in (0.0, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0)}
    best_static = max(statics.values())
    gains = []
    for seed in (3, 4, 6):
        start = _mean_return(_ppo(seed=seed, steps=0, action_mode="utilization"), 11, "utilization")
        learned = _mean_return(_ppo(seed=seed, steps=12_288, action_mode="utilization"), 11, "utilization")
        assert learned > best_static + 0.10 * abs(best_static), (seed, learned, statics)
        gains.append((learned - start) / abs(start))
    assert np.mean(gains) > 0.02, gains


def test_same_seed_same_actions() -> None:
    a, b = _ppo(seed=5, steps=1024), _ppo(seed=5, steps=1024)
    obs = (
        np.random.default_rng(0)
        .uniform(0, 2, size=(64, _env(0).observation_space.shape[0]))
        .astype(np.float32)
    )
    np.testing.assert_array_equal(
        a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0]
    )
    c = _ppo(seed=6, steps=1024)
    assert not np.array_equal(a.predict(obs, deterministic=True)[0], c.predict(obs, deterministic=True)[0])


def test_train_pipeline_checkpoint_and_resume(tmp_path: Path) -> None:
    from rlscale.agents.train import TrainConfig, train
    from rlscale.nets import load_checkpoint
    from rlscale.policies.learned import LearnedPolicy
    from rlscale.sim.presets import load_service

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
        command="rlscale train --test",
    )
    summary = train(cfg, progress=False)
    ck = load_checkpoint(tmp_path / "run" / "best", expected_action_mode="utilization")
    meta = ck.metadata
    assert meta["training"]["command"] == "rlscale train --test"
    assert meta["training"]["seed"] == 0
    assert set(meta["training"]["data"]["traces"]) == {"synthetic:spike", "synthetic:periodic"}
    assert meta["versions"]["stable_baselines3"]
    assert summary["bootstrap"]["demonstrations"] > 0
    LearnedPolicy(load_service("web").spec, 2, tmp_path / "run" / "best")
    # resume: continue to 2048 steps from the saved state
    cfg.timesteps, cfg.resume = 2048, True
    again = train(cfg, progress=False)
    assert again["timesteps"] >= 2048
    lines = (tmp_path / "run" / "validation.jsonl").read_text().splitlines()
    assert len(lines) >= 4


@pytest.mark.parametrize("algo", ["ddqn-per", "sac"])
def test_other_algorithms_run_and_export(tmp_path: Path, algo: str) -> None:
    from rlscale.agents.export import policy_network
    from rlscale.agents.train import TrainConfig, make_env, make_model
    from rlscale.nets.forward import deterministic_action, mlp_forward

    cfg = TrainConfig(algo=algo, num_envs=2)
    t = np.arange(400, dtype=float)
    venv = make_env(cfg, [100 + 500 * (0.5 + 0.5 * np.sin(t / 30))], 2, seed=0)
    model = make_model(cfg, venv, None)
    model.learning_starts = 100
    model.learn(300)
    tensors, net = policy_network(model)
    obs = (
        np.random.default_rng(0).uniform(0, 2, size=(32, venv.observation_space.shape[0])).astype(np.float32)
    )
    np.testing.assert_allclose(
        np.asarray(model.predict(obs, deterministic=True)[0], float).reshape(32, -1),
        np.asarray(deterministic_action(mlp_forward(tensors, net["layers"], obs), net), float).reshape(
            32, -1
        ),
        atol=1e-5,
    )
