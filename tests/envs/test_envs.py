from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from rlscale.core import ObservationBuilder, ScalingSignals
from rlscale.envs import ENV_ID, AutoscaleEnv, AutoscaleVectorEnv
from rlscale.sim import get_preset, signals

DETERMINISTIC_WEB = replace(
    get_preset("web"), poisson_arrivals=False, startup_delay_min_s=45.0, startup_delay_max_s=45.0
)


def windows(count: int = 5, length: int = 60, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(50.0, 1800.0, size=length) for _ in range(count)]


@pytest.mark.parametrize("mode", ["delta", "ratio", "target", "utilization"])
def test_single_env_passes_check_env(mode):
    env = gym.make(ENV_ID, action_mode=mode, episode_steps=20, seed=1)
    check_env(env.unwrapped)


def test_make_vec_native_and_autoreset_metadata():
    env = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point", seed=0, episode_steps=5)
    assert isinstance(env.unwrapped, AutoscaleVectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, env.single_observation_space.shape[0])
    for _ in range(5):
        obs, _, term, trunc, info = env.step(np.ones(4, dtype=np.int64))
        assert env.observation_space.contains(obs)
    assert trunc.all() and not term.any()
    assert info["_final_obs"].all() and info["final_obs"].shape == obs.shape
    assert {"violating", "dropped", "cost_usd", "served"} <= set(info)


@pytest.mark.parametrize("mode", ["delta", "utilization"])
def test_vector_env_equals_n_single_envs(mode):
    n, seed, steps = 4, 7, 9
    kwargs = dict(
        service=DETERMINISTIC_WEB,
        load_windows=windows(),
        episode_steps=steps,
        action_mode=mode,
        forecast=True,
    )
    vec = AutoscaleVectorEnv(num_envs=n, seed=seed, **kwargs)
    singles = [AutoscaleEnv(seed=seed + i, **kwargs) for i in range(n)]
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    np.testing.assert_array_equal(obs_v, np.stack(obs_s))
    rng = np.random.default_rng(0)
    for _ in range(2 * steps + 3):  # crosses two autoresets
        if mode == "delta":
            actions = rng.integers(0, 3, size=n)
        else:
            actions = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
        obs_v, rew_v, term_v, trunc_v, info_v = vec.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, info = env.step(actions[i])
            assert r == pytest.approx(rew_v[i], rel=1e-12, abs=1e-12)
            assert (te, tr) == (term_v[i], trunc_v[i])
            assert info["cost_usd"] == pytest.approx(info_v["cost_usd"][i])
            if tr:
                np.testing.assert_array_equal(o, info_v["final_obs"][i])
                o, _ = env.reset()
            np.testing.assert_array_equal(o, obs_v[i])


def test_env_observation_is_the_core_builder_on_sim_signals():
    env = AutoscaleVectorEnv(
        num_envs=3, service=DETERMINISTIC_WEB, load_windows=windows(), episode_steps=30, seed=2
    )
    obs, _ = env.reset(seed=2)
    builder = ObservationBuilder(env.spec_service, 3)
    np.testing.assert_array_equal(obs, builder.build(signals(env.params, env._state)))
    for _ in range(5):
        obs, *_ = env.step(np.array([2, 1, 0]))
        np.testing.assert_array_equal(obs, builder.build(signals(env.params, env._state)))


def test_windows_are_validated():
    with pytest.raises(ValueError, match=r"load_windows\[1\] has 3 steps"):
        AutoscaleVectorEnv(load_windows=[np.ones(50), np.ones(3)], episode_steps=10)
    with pytest.raises(ValueError, match=r"load_windows\[0\]\[2\]"):
        AutoscaleVectorEnv(load_windows=[np.array([1.0, 2.0, -1.0, 3.0])], episode_steps=2)
    with pytest.raises(ValueError, match="known rewards"):
        AutoscaleVectorEnv(reward="nope")
    with pytest.raises(ValueError, match="known modes"):
        AutoscaleVectorEnv(action_mode="nope")


def test_domain_randomisation_varies_capacity_per_env():
    env = AutoscaleVectorEnv(num_envs=16, randomize_service=0.2, seed=0)
    env.reset(seed=0)
    cpr = np.asarray(env.params.cpu_per_request_core_s)
    assert np.unique(cpr).size == 16
    base = env.base_params.cpu_per_request_core_s
    assert cpr.min() >= 0.8 * base and cpr.max() <= 1.2 * base


def test_warm_start_matches_initial_load():
    env = AutoscaleVectorEnv(
        num_envs=8, service=DETERMINISTIC_WEB, load_windows=windows(), episode_steps=30, seed=5
    )
    env.reset(seed=5)
    sig: ScalingSignals = env.signals
    util = sig.request_rate_rps / (sig.ready_replicas * env.spec_service.pod_capacity_rps)
    assert np.all((util <= 0.7 + 1e-9) | (sig.ready_replicas == env.spec_service.max_replicas))


def test_sb3_ppo_runs_on_the_vector_env():
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)  # the shared CI/dev machines have 2 cores

    from rlscale.envs.sb3 import SB3VecEnv

    venv = SB3VecEnv(AutoscaleVectorEnv(num_envs=8, episode_steps=32, seed=0))
    obs = venv.reset()
    assert obs.shape == (8, venv.observation_space.shape[0])
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=3072)
    assert model.num_timesteps >= 3072
    # terminal observations reach SB3 the way it expects
    venv.reset()
    for _ in range(32):
        _, _, dones, infos = venv.step(np.ones(8, dtype=np.int64))
    assert dones.all()
    assert all("terminal_observation" in i and i["TimeLimit.truncated"] for i in infos)
