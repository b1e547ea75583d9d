"""Offline training on measured data vs training in the calibrated simulator (issue 6, seed 001).

Trains PPO (SB3, short) in ``OfflineTeaStoreEnv(backend="data")`` and in
``OfflineTeaStoreEnv(backend="sim")``, then evaluates both, plus two fixed configurations,
in the *data* env (the same place: measured outcomes) on the same seeded episodes. JSON out.

Usage: ``python bench/offline_vs_sim.py [--steps 20000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    from stable_baselines3 import PPO

    from rlscale.envs.offline import OfflineTeaStoreEnv, evaluate_offline

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    out: dict[str, object] = {"train_steps": args.steps}
    data_eval = OfflineTeaStoreEnv(backend="data", seed=10_000 + args.seed)
    policies: dict[str, object] = {}
    for backend in ("data", "sim"):
        t0 = time.perf_counter()
        env = OfflineTeaStoreEnv(
            backend=backend, seed=args.seed, table=data_eval.table if backend == "data" else None
        )
        model = PPO(
            "MlpPolicy",
            env,
            seed=args.seed,
            n_steps=1000,
            batch_size=100,
            learning_rate=3e-4,
            verbose=0,
            device="cpu",
        )
        model.learn(args.steps)
        policies[f"ppo_trained_on_{backend}"] = model
        out[f"train_seconds_{backend}"] = round(time.perf_counter() - t0, 1)
    policies["static_max(3x900m)"] = lambda o: np.array([2, 2, 1])
    policies["static_min(1x400m)"] = lambda o: np.array([0, 0, 1])
    out["evaluated_in"] = "data (nearest measured rows)"
    out["results"] = {
        name: evaluate_offline(p, data_eval, episodes=args.episodes) for name, p in policies.items()
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
