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
        ray: str = typer.Option(
            None,
            "--ray",
            metavar="ADDRESS",
            help="train on Ray (pip install 'rlscale\\[ray]'): Ray Tune runs one ordinary training run per "
            "seed (--ray-seeds) and --tune grid point, and the best trial's checkpoint becomes OUT/best. "
            "'local' = an embedded Ray on this machine's cores (shut down at the end), 'auto' = the running "
            "cluster, 'ray://host:port' = a remote one (its workers must see --out)",
        ),
        ray_seeds: int = typer.Option(
            2, "--ray-seeds", help="with --ray: trials with seeds SEED, SEED+1, ... (times the --tune grid)"
        ),
        tune: list[str] = typer.Option(
            None,
            "--tune",
            help="with --ray: a hyperparameter grid, repeatable, NAME=V1,V2 (learning_rate, clip_range, "
            "slo_weight, num_envs, memory_floor_utilization, randomize_service)",
        ),
        ray_cpus: int = typer.Option(None, "--ray-cpus", help="with --ray local: CPUs (default: every core)"),
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
        if ray is not None:
            from rlscale.agents.distributed import parse_grid, train_on_ray
            from rlscale.evaluation.distributed import RayUnavailableError, check_address

            try:
                check_address(ray)
                grid = parse_grid(list(tune or []))
                if ray_seeds < 1:
                    raise ValueError(f"--ray-seeds must be >= 1, got {ray_seeds}")
                summary = train_on_ray(
                    cfg, ray, seeds=[seed + i for i in range(ray_seeds)], grid=grid, num_cpus=ray_cpus
                )
            except (ValueError, RayUnavailableError) as exc:
                raise typer.BadParameter(str(exc)) from exc
            typer.echo(json.dumps({k: summary[k] for k in ("out", "best", "winner")}, indent=2, default=str))
            return
        if tune or ray_cpus is not None:
            raise typer.BadParameter("--tune and --ray-cpus apply with --ray")
        try:
            summary = train(cfg, progress=progress)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(
            json.dumps(
                {k: summary[k] for k in ("out", "best", "train_seconds", "timesteps")}, indent=2, default=str
            )
        )
