"""``rlscale train``: train a scaling policy with Stable-Baselines3 (logic in rlscale.agents.train;
the options are generated from :class:`~rlscale.agents.train_config.TrainConfig` and :class:`TrainLaunch`)."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys

import typer

from rlscale.agents.train_config import TrainConfig
from rlscale.cli._config_command import config_command
from rlscale.core.settings import setting


@dataclasses.dataclass(frozen=True)
class TrainLaunch:
    """How this command runs the training (not part of the run's configuration)."""

    progress: bool = setting(True, flags=("--progress/--no-progress",), help="Show a progress bar.")
    ray: str | None = setting(
        None,
        flags=("--ray",),
        help="Train on Ray (pip install 'rlscale\\[ray]'): Ray Tune runs one ordinary training run per seed "
        "(--ray-seeds) and --tune grid point, and the best trial's checkpoint becomes OUT/best. ADDRESS: "
        "'local' = an embedded Ray on this machine's cores (shut down at the end), 'auto' = the running "
        "cluster, 'ray://host:port' = a remote one (its workers must see --out).",
    )
    ray_seeds: int = setting(
        2,
        flags=("--ray-seeds",),
        help="With --ray: trials with seeds SEED, SEED+1, ... (times the --tune grid).",
    )
    tune: list[str] | None = setting(
        None,
        flags=("--tune",),
        help="With --ray: a hyperparameter grid, repeatable, NAME=V1,V2 (learning_rate, clip_range, "
        "slo_weight, num_envs, memory_floor_utilization, randomize_service).",
    )
    ray_cpus: int | None = setting(
        None, flags=("--ray-cpus",), help="With --ray local: CPUs (default: every core)."
    )


def register(app: typer.Typer) -> None:
    app.command("train")(config_command(TrainConfig, TrainLaunch, action=_train))


def _train(cfg: TrainConfig, launch: TrainLaunch) -> None:
    """Train a policy on the training splits; validate against the HPA frontier; write checkpoints."""
    from rlscale.agents.train import train

    cfg = dataclasses.replace(cfg, command="rlscale train " + " ".join(shlex.quote(a) for a in sys.argv[2:]))
    if launch.ray is not None:
        from rlscale.agents.distributed import parse_grid, train_on_ray
        from rlscale.evaluation.distributed import RayUnavailableError, check_address

        try:
            check_address(launch.ray)
            grid = parse_grid(list(launch.tune or []))
            if launch.ray_seeds < 1:
                raise ValueError(f"--ray-seeds must be >= 1, got {launch.ray_seeds}")
            seeds = [cfg.seed + i for i in range(launch.ray_seeds)]
            summary = train_on_ray(cfg, launch.ray, seeds=seeds, grid=grid, num_cpus=launch.ray_cpus)
        except (ValueError, RayUnavailableError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(json.dumps({k: summary[k] for k in ("out", "best", "winner")}, indent=2, default=str))
        return
    if launch.tune or launch.ray_cpus is not None:
        raise typer.BadParameter("--tune and --ray-cpus apply with --ray")
    try:
        summary = train(cfg, progress=launch.progress)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(
        json.dumps(
            {k: summary[k] for k in ("out", "best", "train_seconds", "timesteps")}, indent=2, default=str
        )
    )
