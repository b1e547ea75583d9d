"""``--normalize-reward`` (SB3 VecNormalize on rewards only), ``--clip-range`` and
``--learning-rate``: off by default, rewards scaled by the running return std, observations
untouched, statistics carried through --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rlscale.agents.resume import load_resume_state, save_resume_state
from rlscale.agents.train import TrainConfig, make_env, make_model

torch.set_num_threads(1)


def _windows() -> list[np.ndarray]:
    t = np.arange(200, dtype=float)
    return [300.0 + 900.0 * (0.5 + 0.5 * np.sin(2 * np.pi * t / p)) for p in (40.0, 60.0)]


def _cfg(**kw: object) -> TrainConfig:
    return TrainConfig(algo="ppo", action_mode="hold_target", num_envs=4, episode_steps=50, **kw)  # type: ignore[arg-type]


def test_default_is_unnormalised() -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    assert not isinstance(make_env(_cfg(), _windows(), 4, seed=0), VecNormalize)


def test_rewards_scaled_by_return_std_and_observations_untouched() -> None:
    from stable_baselines3.common.vec_env import VecNormalize

    plain = make_env(_cfg(), _windows(), 4, seed=0)
    norm = make_env(_cfg(normalize_reward=True), _windows(), 4, seed=0)
    assert isinstance(norm, VecNormalize)
    np.testing.assert_array_equal(plain.reset(), norm.reset())
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = rng.integers(0, plain.action_space.n, size=4)
        obs_p, r_p, _, _ = plain.step(action)
        obs_n, r_n, _, _ = norm.step(action)
        np.testing.assert_array_equal(obs_p, obs_n)  # norm_obs=False
        np.testing.assert_allclose(norm.get_original_reward(), r_p)
        # reward / sqrt(running discounted-return variance + eps), clipped at 10 (SB3 default)
        expected = np.clip(r_p / np.sqrt(norm.ret_rms.var + norm.epsilon), -10.0, 10.0)
        np.testing.assert_allclose(r_n, expected, rtol=1e-5)
    assert np.abs(r_p).max() > 5 * np.abs(r_n).max()  # slo_cost rewards are large; scaled ones are not


def test_clip_range_and_learning_rate_reach_ppo() -> None:
    cfg = _cfg(clip_range=0.1, learning_rate=1e-4)
    model = make_model(cfg, make_env(cfg, _windows(), 4, seed=0), None)
    assert model.clip_range(1.0) == 0.1
    assert model.learning_rate == 1e-4


def test_reward_statistics_survive_resume(tmp_path: Path) -> None:
    cfg = _cfg(normalize_reward=True, n_steps=16)
    model = make_model(cfg, make_env(cfg, _windows(), 4, seed=0), None)
    model.learn(128)
    rms = model.get_env().ret_rms
    assert rms.count > 100
    save_resume_state(model, tmp_path / "resume", {"best": None})
    fresh = make_model(cfg, make_env(cfg, _windows(), 4, seed=0), None)
    load_resume_state(fresh, tmp_path / "resume")
    got = fresh.get_env().ret_rms
    np.testing.assert_allclose([got.mean, got.var, got.count], [rms.mean, rms.var, rms.count])
