"""``rlscale train``: train a scaling policy with Stable-Baselines3 (logic in rlscale.agents.train)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        algo: str = typer.Option(
            "ppo", help="ppo | a2c | dqn | ddqn-per (seed 000) | ddpg | td3 | sac | recurrent-ppo"
        ),
        service: str = typer.Option("web", help="service preset (web, lipari2025) or a service JSON file"),
        trace: list[str] = typer.Option(
            None,
            "--trace",
            help="training trace (repeatable): named (its TRAIN split only), synthetic:KIND, or a CSV; "
            "default: nasa, twitter-15s, alibaba-lora, alibaba-gateway and five synthetic patterns",
        ),
        timesteps: int = typer.Option(
            200_000, help="environment steps to train for (summed over parallel envs)"
        ),
        seed: int = typer.Option(0, min=0, help="seed of everything (windows, envs, networks)"),
        out: Path = typer.Option(Path("runs/train"), help="run directory (best/, last/, resume/, tb/)"),
        resume: bool = typer.Option(False, help="continue the run in --out after a kill"),
        action_mode: str = typer.Option(
            None,
            help="delta | ratio | target | utilization | hold_target (default: utilization; delta for DQN)",
        ),
        slo_weight: float = typer.Option(30.0, help="reward weight of the SLO-violating request fraction"),
        num_envs: int = typer.Option(32, help="parallel simulated services"),
        episode_steps: int = typer.Option(240, help="steps per episode (15 s each)"),
        eval_every: int = typer.Option(50_000, help="validate against the HPA frontier every N steps"),
        randomize_service: float = typer.Option(
            0.2,
            help="domain randomisation: ± fraction of capacity, idle CPU and base latency; above 0 it "
            "also draws start-up delays of 5-120 s and a 0-60 s metric lag per episode; 0 = off",
        ),
        bootstrap: str = typer.Option(
            "bc", help="bc (behaviour-clone the HPA, or the --teacher rule with hold_target) | none"
        ),
        teacher: str = typer.Option(
            "scale-aware",
            help="hold_target BC teacher: scale-aware (fixed rule) | service (from the latency law)",
        ),
        bc_epochs: int = typer.Option(8, help="behaviour-cloning epochs over the demonstrations"),
        bc_windows: int = typer.Option(64, help="training windows the BC teacher is run on"),
        memory_floor: float = typer.Option(
            1.0,
            help="hold_target: keep the pods that serve the 2-hour decayed load peak at this "
            "utilisation (0 = no floor)",
        ),
        budget_feedback: bool = typer.Option(
            True,
            help="hold_target: serve with the SLO-budget feedback on (a budget floor whose memory follows "
            "the error-budget burn rate; core.slo_budget); stored in the checkpoint",
        ),
        encoder: str = typer.Option("none", help="none | gru (AWARE trajectory encoder)"),
        forecaster: str = typer.Option(
            "none",
            help="load forecast in the observation: none | lstm (train seed 000's LSTM on the "
            "training windows; stored in the checkpoint) | PATH of a saved forecaster",
        ),
        learning_rate: float = typer.Option(3e-4, help="PPO learning rate"),
        clip_range: float = typer.Option(0.2, help="PPO clip range"),
        normalize_reward: bool = typer.Option(
            False, help="scale rewards by the running return std (SB3 VecNormalize, rewards only)"
        ),
        progress: bool = typer.Option(True, help="show a progress bar"),
    ) -> None:
        """Train a policy on the training splits; validate against the HPA frontier; write checkpoints."""
        from rlscale.agents.train import DEFAULT_TRAIN_TRACES, TrainConfig, train

        cfg = TrainConfig(
            algo=algo,
            service=service,
            traces=list(trace) if trace else list(DEFAULT_TRAIN_TRACES),
            timesteps=timesteps,
            seed=seed,
            out=str(out),
            resume=resume,
            action_mode=action_mode,
            slo_weight=slo_weight,
            num_envs=num_envs,
            episode_steps=episode_steps,
            eval_every=eval_every,
            randomize_service=randomize_service,
            bootstrap=bootstrap,
            teacher=teacher,
            bc_epochs=bc_epochs,
            bc_windows=bc_windows,
            memory_floor_utilization=memory_floor if memory_floor > 0 else None,
            budget_feedback=budget_feedback,
            encoder=encoder,
            forecaster=forecaster,
            learning_rate=learning_rate,
            clip_range=clip_range,
            normalize_reward=normalize_reward,
            command="rlscale train " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        )
        try:
            summary = train(cfg, progress=progress)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(
            json.dumps(
                {k: summary[k] for k in ("out", "best", "train_seconds", "timesteps")}, indent=2, default=str
            )
        )
