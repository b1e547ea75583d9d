"""``rlscale train``: Stable-Baselines3 on the native vector env, with validation against the
HPA frontier on windows carved from the TRAINING splits, best-model tracking, atomic
checkpoints, TensorBoard logs and resume after a kill.

Run directory layout (``--out DIR``)::

    DIR/best/        best validated policy (rlscale checkpoint: model.safetensors + metadata.json)
    DIR/last/        policy at the last validation
    DIR/resume/      full SB3 state for --resume (policy.safetensors, optimizer.pt loaded with
                     weights_only=True, replay.npz for off-policy algorithms, state.json)
    DIR/tb/          TensorBoard logs
    DIR/validation.jsonl   one line per validation
"""

from __future__ import annotations

import functools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from rlscale.agents.data import build_windows
from rlscale.agents.export import NotExportable, checkpoint_metadata, policy_network
from rlscale.agents.resume import load_resume_state, save_resume_state
from rlscale.agents.rollout import run_policy
from rlscale.agents.train_config import ALGOS, TrainConfig  # the configuration (torch-free)
from rlscale.agents.validation import hpa_frontier, score
from rlscale.core.atomic_file import write_text_atomic
from rlscale.core.spec import ServiceSpec
from rlscale.nets.checkpoint import load_checkpoint, save_checkpoint
from rlscale.nets.forecaster import ForecasterError, LoadForecaster, load_forecaster

#: Discount of the return whose running std VecNormalize divides rewards by: the algorithms'
#: gamma below (0.97).
REWARD_NORM_GAMMA = 0.97


# --------------------------------------------------------------------------------- pieces
def reward_fn(cfg: TrainConfig) -> Any:
    from rlscale.envs.rewards import slo_cost

    return functools.partial(slo_cost, slo_weight=cfg.slo_weight)


def make_forecaster(
    cfg: TrainConfig, train_windows: list[np.ndarray], spec: ServiceSpec, out: Path
) -> LoadForecaster | None:
    """The LoadForecaster of ``cfg.forecaster`` (None for "none"); "lstm" trains seed 000's
    LSTM on the training windows (never validation or test) and saves it in ``out/forecaster``."""
    if cfg.forecaster == "none":
        return None
    if cfg.forecaster == "lstm":
        from rlscale.forecast.lstm import ForecasterConfig, LSTMForecaster

        target = out / "forecaster"
        if not (cfg.resume and target.exists()):
            fc_cfg = ForecasterConfig(
                # the start-up horizon, as the env's true-future forecast uses
                horizon_steps=max(1, spec.startup_delay_steps),
                train_steps=cfg.forecaster_train_steps,
                seed=cfg.seed,
                training_data=[f"{t}:train" for t in cfg.traces],
            )
            model = LSTMForecaster(fc_cfg)
            model.fit(train_windows)
            model.save(target)
        path = target
    else:
        path = Path(cfg.forecaster)
    try:
        return load_forecaster(path)
    except ForecasterError as exc:
        raise ValueError(f"--forecaster: {exc}") from exc


def make_env(
    cfg: TrainConfig,
    windows: list[np.ndarray],
    num_envs: int,
    seed: int,
    forecaster: LoadForecaster | None = None,
) -> Any:
    from stable_baselines3.common.vec_env import VecFrameStack

    from rlscale.envs.sb3 import SB3VecEnv
    from rlscale.envs.vector import AutoscaleVectorEnv

    env = AutoscaleVectorEnv(
        num_envs=num_envs,
        service=cfg.service,
        load_windows=windows,
        episode_steps=cfg.episode_steps,
        action_mode=cfg.action_config(),
        reward=reward_fn(cfg),  # type: ignore[arg-type]
        randomize_service=cfg.randomize_service,
        forecaster=forecaster,
        seed=seed,
    )
    venv: Any = SB3VecEnv(env)
    if cfg.encoder == "gru":
        venv = VecFrameStack(venv, n_stack=8)
    if cfg.normalize_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=REWARD_NORM_GAMMA)
    return venv


def make_model(cfg: TrainConfig, venv: Any, tb_dir: str | None) -> Any:
    """An SB3 model for ``cfg.algo`` (seeded; defaults tuned for speed on a small CPU)."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.noise import NormalActionNoise

    from rlscale.agents.dqn import DoubleDQNPER
    from rlscale.agents.encoder import TrajectoryEncoder

    policy_kwargs: dict[str, Any] = {"net_arch": list(cfg.net_arch)}
    if cfg.encoder == "gru":
        policy_kwargs.update(
            features_extractor_class=TrajectoryEncoder, features_extractor_kwargs={"n_stack": 8}
        )
    common = {"seed": cfg.seed, "tensorboard_log": tb_dir, "verbose": 0, "device": "cpu"}
    algo = cfg.algo
    if algo == "ppo":
        return sb3.PPO(
            "MlpPolicy",
            venv,
            n_steps=cfg.n_steps,
            batch_size=512,
            n_epochs=5,
            learning_rate=cfg.learning_rate,
            clip_range=cfg.clip_range,
            gamma=0.97,
            gae_lambda=0.95,
            ent_coef=cfg.ent_coef,
            policy_kwargs={**policy_kwargs, "log_std_init": -1.0},
            **common,
        )
    if algo == "a2c":
        return sb3.A2C("MlpPolicy", venv, n_steps=8, gamma=0.97, policy_kwargs=policy_kwargs, **common)
    if algo == "recurrent-ppo":
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO("MlpLstmPolicy", venv, n_steps=cfg.n_steps, batch_size=512, gamma=0.97, **common)
    off = {
        "learning_starts": 2000,
        "buffer_size": 200_000,
        "batch_size": 256,
        "gamma": 0.97,
        "train_freq": 1,
        "gradient_steps": 1,
    }
    if algo == "dqn":
        return sb3.DQN(
            "MlpPolicy", venv, policy_kwargs=policy_kwargs, exploration_fraction=0.3, **off, **common
        )
    if algo == "ddqn-per":
        return DoubleDQNPER(env=venv, policy_kwargs=policy_kwargs, exploration_fraction=0.3, **off, **common)
    n_act = int(np.prod(venv.action_space.shape))
    noise = NormalActionNoise(np.zeros(n_act), 0.1 * np.ones(n_act))
    if algo == "sac":
        return sb3.SAC("MlpPolicy", venv, policy_kwargs=policy_kwargs, **off, **common)
    if algo == "td3":
        return sb3.TD3("MlpPolicy", venv, policy_kwargs=policy_kwargs, action_noise=noise, **off, **common)
    if algo == "ddpg":
        return sb3.DDPG("MlpPolicy", venv, policy_kwargs=policy_kwargs, action_noise=noise, **off, **common)
    raise ValueError(f"unknown --algo {algo!r}; choose one of {ALGOS}")


# ------------------------------------------------------------------------------ train
def train(cfg: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """Train, validate, checkpoint. Returns a summary (also written to DIR/summary.json)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from rlscale.policies.learned import LearnedPolicy
    from rlscale.sim.presets import load_service

    t_start = time.perf_counter()
    cfg.validate()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    th.manual_seed(cfg.seed)
    th.set_num_threads(1)  # small MLPs: one thread is as fast and does not fight the simulator for cores
    np.random.seed(cfg.seed)  # noqa: NPY002 - SB3 buffers sample from the global RNG
    params = load_service(cfg.service)
    spec = params.spec
    action = cfg.action_config()
    ws = build_windows(
        cfg.traces,
        spec,
        window_steps=cfg.window_steps,
        windows_per_trace=cfg.windows_per_trace,
        seed=cfg.seed,
    )
    rfn = reward_fn(cfg)
    front, hpa_info = hpa_frontier(params, ws.validation, rfn, cfg.seed) if ws.validation else ([], {})
    forecaster = make_forecaster(cfg, ws.train, spec, out)
    venv = make_env(cfg, ws.train, cfg.num_envs, cfg.seed, forecaster)
    model = make_model(cfg, venv, str(out / "tb"))
    log_path = out / "validation.jsonl"
    state: dict[str, Any] = {"best": None, "history": [], "bootstrap": None, "algo": cfg.algo}
    prior_seconds = 0.0
    if cfg.resume:  # validate() made sure there is a state to resume
        loaded = load_resume_state(model, out / "resume")
        state.update({k: loaded[k] for k in ("best", "history", "bootstrap") if k in loaded})
        prior_seconds = float(loaded.get("train_seconds", 0.0))

    def training_record(elapsed_s: float) -> dict[str, Any]:
        return {
            "command": cfg.command or " ".join(sys.argv),
            "seed": cfg.seed,
            "config": {k: v for k, v in asdict(cfg).items() if k != "command"},
            "reward": {
                "name": "slo_cost",
                "slo_weight": cfg.slo_weight,
                "cost_weight": 1.0,
                "churn_weight": 0.02,
            },
            "timesteps": int(model.num_timesteps),
            "train_seconds": round(elapsed_s, 1),
            "data": ws.record,
            "test_windows_never_used": "the test part of every named trace's standard_split; synthetic seeds >= 1e6",
            "validation": state["best"],
            "hpa_validation_frontier": hpa_info,
        }

    def export(path: Path) -> Path | None:
        try:
            tensors, network = policy_network(model)
        except NotExportable:
            return None
        meta = checkpoint_metadata(
            algorithm=cfg.algo,
            action=action,
            network=network,
            service={
                "preset": cfg.service,
                "spec": spec.to_dict(),
                "randomize_service": cfg.randomize_service,
            },
            training=training_record(prior_seconds + time.perf_counter() - t_start),
            forecaster=None if forecaster is None else forecaster.config(),
        )
        if forecaster is not None:
            tensors = {**tensors, **forecaster.prefixed_tensors()}
        return save_checkpoint(path, tensors, meta)

    def validate(tag: str) -> dict[str, Any] | None:
        path = export(out / "last")
        if path is None or not ws.validation:
            return None
        ck = load_checkpoint(path)
        result = run_policy(
            params, lambda s, n: LearnedPolicy(s, n, ck.path), ws.validation, seed=cfg.seed, reward_fn=rfn
        )
        sc = score(result, front)
        sc.update(tag=tag, timesteps=int(model.num_timesteps))
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(sc) + "\n")
        state["history"].append(sc)
        if state["best"] is None or sc["key"] < state["best"]["key"]:
            state["best"] = sc
            export(out / "best")
        return sc

    # ---- bootstrap from the HPA (behaviour cloning), then the guarded hand-over
    if (
        cfg.bootstrap == "bc"
        and not cfg.resume
        and cfg.encoder == "none"
        and hasattr(model.policy, "get_distribution")
    ):
        from rlscale.agents.bootstrap import behaviour_clone, hpa_demonstrations, teacher_demonstrations

        demo_windows = ws.train[:: max(1, len(ws.train) // cfg.bc_windows)]
        if action.mode == "hold_target":  # the scale-aware rule is a better teacher than the HPA
            from rlscale.agents.teacher import service_rule

            if cfg.teacher not in ("scale-aware", "service"):
                raise ValueError(f"unknown --teacher {cfg.teacher!r}; choose scale-aware or service")
            rule = service_rule(params, action) if cfg.teacher == "service" else None
            obs, acts = teacher_demonstrations(
                params, demo_windows, action, seed=cfg.seed, rule=rule, forecaster=forecaster
            )
        else:
            obs, acts = hpa_demonstrations(params, demo_windows, action, seed=cfg.seed, forecaster=forecaster)
        loss = behaviour_clone(model, obs, acts, epochs=cfg.bc_epochs, seed=cfg.seed)
        sc = validate("bootstrap")
        state["bootstrap"] = {"bc_loss": loss, "demonstrations": len(obs), "validation": sc}

    class Periodic(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = model.num_timesteps + cfg.eval_every
            self.bar: Any = None

        def _on_training_start(self) -> None:
            if progress:
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self.bar = Progress(
                    TextColumn("[bold]train {task.fields[algo]}"),
                    BarColumn(),
                    TextColumn("{task.completed:,}/{task.total:,} steps"),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"),
                )
                self.bar.start()
                self.task = self.bar.add_task(
                    "train", total=cfg.timesteps, completed=model.num_timesteps, algo=cfg.algo, info=""
                )

        def _on_step(self) -> bool:
            if self.bar is not None:
                self.bar.update(self.task, completed=self.num_timesteps)
            if self.num_timesteps >= self.next_eval:
                self.next_eval += cfg.eval_every
                sc = validate("periodic")
                if sc is not None:
                    for k in ("violation_rate", "cost_usd", "reward"):
                        self.logger.record(f"validation/{k}", sc[k])
                    if sc["cost_vs_hpa_frontier"] is not None:
                        self.logger.record("validation/cost_vs_hpa_frontier", sc["cost_vs_hpa_frontier"])
                    if self.bar is not None:
                        r = sc["cost_vs_hpa_frontier"]
                        self.bar.update(
                            self.task,
                            info=f"val viol {sc['violation_rate']:.3%} cost/HPA "
                            f"{'n/a' if r is None else f'{r:.3f}'}",
                        )
                save_resume_state(
                    model,
                    out / "resume",
                    {**state, "train_seconds": prior_seconds + time.perf_counter() - t_start},
                )
            return True

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.stop()

    remaining = max(0, cfg.timesteps - int(model.num_timesteps))
    if remaining:
        model.learn(remaining, callback=Periodic(), reset_num_timesteps=not cfg.resume, tb_log_name=cfg.algo)
    validate("final")
    save_resume_state(
        model, out / "resume", {**state, "train_seconds": prior_seconds + time.perf_counter() - t_start}
    )
    elapsed = prior_seconds + time.perf_counter() - t_start
    if (out / "best").exists():  # refresh the best checkpoint's metadata with the final record
        ck = load_checkpoint(out / "best")
        meta = dict(ck.metadata)
        meta["training"] = {**training_record(elapsed), "timesteps_at_best": state["best"]["timesteps"]}
        save_checkpoint(out / "best", ck.tensors, meta)
    summary = {
        "out": str(out),
        "best": state["best"],
        "bootstrap": state["bootstrap"],
        "train_seconds": elapsed,
        "timesteps": int(model.num_timesteps),
        "hpa_validation_front": [p.to_dict() for p in front],
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary
