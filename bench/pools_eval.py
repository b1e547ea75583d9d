"""GPU/CPU pools (seed 003): a short PPO run against the static all-GPU / all-CPU / balanced
fleets and an HPA per pool, on seed 003's ramp, spike, periodic and random patterns (same
seeds for every policy).

Trains PPO (SB3) in ``PoolsEnv``, exports its actor as a safe checkpoint (safetensors + JSON,
``<out>/policy``; ``rlscale evaluate --service pools --policy learned:<out>/policy`` reloads
it), then runs :func:`rlscale.evaluation.pools.evaluate_pools` and writes ``report.json``,
``report.md`` and PNGs to ``--out``. Prints a JSON summary.

Usage: ``python bench/pools_eval.py [--steps 30000] [--seeds 5] [--out reports/pools]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def export_pools_policy(model: Any, path: Path, *, steps: int, seed: int, params: Any) -> Path:
    """SB3 PPO pools model -> rlscale checkpoint: the generic actor export
    (:func:`rlscale.agents.export.policy_network`) plus the pools action, observation and service."""
    from rlscale.agents import export
    from rlscale.envs.pools import DELTAS
    from rlscale.nets.checkpoint import FORMAT_VERSION, save_checkpoint
    from rlscale.policies.pools import POOLS_ACTION_MODE, POOLS_OBSERVATION_FEATURES

    tensors, network = export.policy_network(model)
    metadata = {
        "format_version": FORMAT_VERSION,
        "algorithm": "ppo",
        "observation_features": list(POOLS_OBSERVATION_FEATURES),
        "action": {
            "mode": POOLS_ACTION_MODE,
            "nvec": [int(v) for v in model.action_space.nvec],
            "deltas": DELTAS.tolist(),
            "max_replicas": [p.spec.max_replicas for p in params.pools],
        },
        "network": network,
        "service": {"preset": "pools", "pools": list(params.names)},
        "training": {"env": "PoolsEnv", "timesteps": steps, "seed": seed, "command": "bench/pools_eval.py"},
        "versions": export.versions(),
    }
    return save_checkpoint(path, tensors, metadata)


def main() -> None:
    from stable_baselines3 import PPO

    from rlscale.envs.pools import DELTAS, PoolsEnv
    from rlscale.evaluation.pools import (
        DEFAULT_POOLS_POLICIES,
        PoolsEvalConfig,
        evaluate_pools,
        write_pools_report,
    )
    from rlscale.sim import pools as ps

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--out", default="reports/pools")
    args = parser.parse_args()
    params = ps.pools_preset()
    out = Path(args.out)
    t0 = time.perf_counter()
    model = PPO(
        "MlpPolicy",
        PoolsEnv(params, seed=args.seed),
        seed=args.seed,
        n_steps=1024,
        batch_size=128,
        verbose=0,
        device="cpu",
    )
    model.learn(args.steps)
    train_s = time.perf_counter() - t0
    ckpt = export_pools_policy(model, out / "policy", steps=args.steps, seed=args.seed, params=params)
    # The exported checkpoint must act as the SB3 model does (no silent export bug).
    from rlscale.policies.pools import LearnedPoolsPolicy

    env, learned = PoolsEnv(params, seed=123), LearnedPoolsPolicy(ckpt)
    max_replicas = np.array([[p.spec.max_replicas for p in params.pools]])
    obs, _ = env.reset(seed=123)
    mismatches = 0
    for _ in range(40):
        a_sb3 = model.predict(obs, deterministic=True)[0]
        cur = np.array([[int(s.desired[0]) for s in env._state.states]])
        desired, placement = learned.act(obs[None, :], cur)
        # PoolsEnv.step's rule: each pool's delta index -> DELTAS, clipped to [0, max_replicas].
        expected = np.clip(cur + DELTAS[np.asarray(a_sb3[:2])][None, :], 0, max_replicas)
        expected[expected.sum(axis=1) == 0, -1] = 1
        mismatches += int(not (np.array_equal(desired, expected) and placement[0] == a_sb3[2]))
        obs, *_ = env.step(a_sb3)
    t1 = time.perf_counter()
    config = PoolsEvalConfig(
        policies=[*DEFAULT_POOLS_POLICIES, f"learned:{ckpt}"],
        seeds=args.seeds,
        out=out,
        command=f"python bench/pools_eval.py --steps {args.steps} --seeds {args.seeds} --out {args.out}",
    )
    report, timelines = evaluate_pools(config, params)
    report["training"] = {"algorithm": "ppo", "timesteps": args.steps, "train_seconds": round(train_s, 1)}
    report, path = write_pools_report(out, report, timelines)
    summary = {
        "service": "pools",
        "train_steps": args.steps,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.perf_counter() - t1, 1),
        "export_mismatches_in_40_steps": mismatches,
        "seeds": args.seeds,
        "report": str(path),
        "all_patterns": {
            r["policy"]: {
                "slo_violation_rate": round(r["slo_violation_rate"]["mean"], 5),
                "cost_usd": round(r["cost_usd"]["mean"], 4),
            }
            for r in report["results"]
            if r["pattern"] == "all"
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
