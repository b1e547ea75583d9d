"""``rlscale train --ray ADDRESS``: Ray Tune over seeds and hyperparameters around the existing
trainer (issue 16; why Tune and not RLlib: docs/scale-out.md).

Each Tune trial is one ordinary :func:`rlscale.agents.train.train` run (same simulator,
bootstrap, validation against the HPA frontier, checkpoints) in ``OUT/trials/<trial>/``. Its
validation score (``train.score``: feasible first, then cost against the HPA frontier) is
reported to Tune; when every trial has finished, the best trial's ``best/`` checkpoint is
promoted to ``OUT/best`` with the same rule a single run uses between its own validations,
so ``learned:OUT/best`` loads it as it loads any run's. ``OUT/summary.json`` lists every trial.

* ``local`` starts an embedded Ray on this machine's cores (shut down at the end, Ctrl-C
  included); ``auto`` / ``ray://host:port`` join a cluster, whose workers must see ``OUT``
  (a shared volume: the KubeRay manifests in deploy/ray/ mount one).
* A trial whose worker dies is restarted from scratch (``FailureConfig(max_failures)``).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rlscale.agents.train import TrainConfig, train
from rlscale.core.atomic_file import write_dir_atomic, write_text_atomic

#: Times Tune restarts a trial whose worker died before the run fails.
TRIAL_RETRIES = 2
#: Hyperparameters ``--tune NAME=V1,V2`` may sweep (TrainConfig fields, as on the CLI).
TUNABLE: dict[str, type] = {
    "learning_rate": float,
    "clip_range": float,
    "slo_weight": float,
    "num_envs": int,
    "memory_floor_utilization": float,
    "randomize_service": float,
}


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["learning_rate=1e-4,3e-4", "slo_weight=10,30"]`` → the grid; a bad item is a ValueError
    naming it."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in TUNABLE:
            raise ValueError(f"--tune {item!r}: expected NAME=V1,V2,... with NAME one of {sorted(TUNABLE)}")
        try:
            grid[name] = [TUNABLE[name](v) for v in values.split(",") if v.strip()]
        except ValueError as exc:
            raise ValueError(f"--tune {item!r}: {exc}") from exc
        if not grid[name]:
            raise ValueError(f"--tune {item!r}: no value")
    return grid


def _key(best: dict[str, Any] | None) -> tuple[float, float]:
    """``train.score``'s ordering key (lower is better); a trial without one is last."""
    if not best or "key" not in best:
        return (math.inf, math.inf)
    return (float(best["key"][0]), float(best["key"][1]))


def _trial(config: dict[str, Any]) -> None:
    """One Tune trial: an ordinary training run, its best validation score reported."""
    from ray import tune

    base = TrainConfig(**config["base"])
    cfg = replace(base, seed=int(config["seed"]), out=config["out_root"], **config.get("hyper", {}))
    trial_out = Path(cfg.out) / tune.get_context().get_trial_id()
    summary = train(replace(cfg, out=str(trial_out)), progress=False)
    key = _key(summary["best"])
    tune.report(
        {
            "key_feasible": key[0],
            "key_cost": key[1],
            "out": str(trial_out),
            "cost_vs_hpa_frontier": (summary["best"] or {}).get("cost_vs_hpa_frontier"),
            "violation_rate": (summary["best"] or {}).get("violation_rate"),
        }
    )


def train_on_ray(
    cfg: TrainConfig,
    address: str,
    *,
    seeds: list[int],
    grid: dict[str, list[Any]] | None = None,
    num_cpus: int | None = None,
    cpus_per_trial: float = 1.0,
) -> dict[str, Any]:
    """Every seed × grid point as a Tune trial; the best trial's checkpoint becomes ``cfg.out/best``."""
    from rlscale.evaluation.distributed import ray_session

    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with ray_session(address, num_cpus):
        from ray import tune

        space: dict[str, Any] = {
            "base": asdict(cfg) | {"out": str(out / "trials")},
            "out_root": str(out / "trials"),
            "seed": tune.grid_search(list(seeds)),
        }
        if grid:
            space["hyper"] = {k: tune.grid_search(v) for k, v in grid.items()}
        tuner = tune.Tuner(
            tune.with_resources(_trial, {"cpu": cpus_per_trial}),
            param_space=space,
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(out),
                failure_config=tune.FailureConfig(max_failures=TRIAL_RETRIES),
                verbose=1,
            ),
        )
        results = tuner.fit()
    trials = []
    for r in results:
        if r.error is not None or not r.metrics:
            trials.append({"config": _trial_config(r.config), "error": str(r.error)})
            continue
        m = r.metrics
        trials.append(
            {
                "config": _trial_config(r.config),
                "out": m["out"],
                "key": [m["key_feasible"], m["key_cost"]],
                "cost_vs_hpa_frontier": m.get("cost_vs_hpa_frontier"),
                "violation_rate": m.get("violation_rate"),
            }
        )
    scored = [t for t in trials if "key" in t and (Path(t["out"]) / "best").exists()]
    if not scored:
        raise RuntimeError(
            f"train --ray: no trial produced a checkpoint ({[t.get('error') for t in trials]})"
        )
    winner = min(scored, key=lambda t: tuple(t["key"]))
    write_dir_atomic(out / "best", lambda tmp: _copy_tree(Path(winner["out"]) / "best", tmp))
    summary = {"out": str(out), "best": str(out / "best"), "winner": winner, "trials": trials}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def _trial_config(config: dict[str, Any]) -> dict[str, Any]:
    return {"seed": config.get("seed"), **config.get("hyper", {})}


def _copy_tree(src: Path, dst: Path) -> None:
    for item in src.iterdir():
        if item.is_dir():
            shutil.copytree(item, dst / item.name)
        else:
            shutil.copy2(item, dst / item.name)
