"""GPU/CPU pools (seed 003): a short PPO run against the static all-GPU / all-CPU / balanced
fleets on seed 003's ramp, spike, periodic and random patterns (same seeds for every policy).
Prints JSON and writes ``report.json`` + ``report.md`` to ``--out`` (atomically).

Usage: ``python bench/pools_eval.py [--steps 30000] [--seeds 5] [--out reports/pools]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main() -> None:
    from stable_baselines3 import PPO

    from rlscale.envs.pools import (
        DEFAULT_PEAK_RPS,
        PATTERNS,
        PoolsEnv,
        failed_fraction,
        pattern_load,
        pools_observation,
    )
    from rlscale.policies.pools import static_baselines
    from rlscale.sim import pools as ps

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="reports/pools")
    args = parser.parse_args()
    params = ps.pools_preset()
    t0 = time.perf_counter()
    model = PPO(
        "MlpPolicy", PoolsEnv(params, seed=0), seed=0, n_steps=1024, batch_size=128, verbose=0, device="cpu"
    )
    model.learn(args.steps)
    train_s = time.perf_counter() - t0
    caps = (float(params.pools[0].mu_rps), float(params.pools[1].mu_rps))
    maxr = (params.pools[0].spec.max_replicas, params.pools[1].spec.max_replicas)
    statics = static_baselines(DEFAULT_PEAK_RPS, caps, maxr)
    steps = 80
    results: dict[str, dict[str, dict[str, float]]] = {}
    for pattern in PATTERNS:
        for name in ["ppo", *(p.name for p in statics)]:
            fails, _dones, costs = [], [], []
            for seed in range(args.seeds):
                load = pattern_load(pattern, steps, DEFAULT_PEAK_RPS, 10_000 + seed)
                rng = np.random.default_rng(seed)
                st = ps.init_state(params, 1, (3, 3), initial_rate_rps=float(load[0]))
                f = d = c = 0.0
                last_failed = np.zeros(1)
                for t in range(steps):
                    if name == "ppo":
                        obs = pools_observation(
                            params,
                            st,
                            np.array([load[max(t - 1, 0)]]),
                            np.array([load[max(t - 2, 0)]]),
                            last_failed,
                        )[0]
                        a = model.predict(obs, deterministic=True)[0]
                        cur = np.array([[s.desired[0] for s in st.states]])
                        desired = np.clip(cur + (np.asarray(a[:2]) - 2)[None, :], 0, [list(maxr)])
                        if desired.sum() == 0:
                            desired[0, 1] = 1
                        placement = np.array([int(a[2])])
                    else:
                        pol = next(p for p in statics if p.name == name)
                        desired, placement = pol.act(np.array([load[t]]))
                    st, m = ps.step(params, st, np.array([load[t]]), desired, placement, rng)
                    last_failed = failed_fraction(m)
                    f += float(m.violating[0] + m.dropped[0])
                    d += float(m.served[0] + m.dropped[0])
                    c += float(m.cost_usd[0])
                fails.append(f / max(d, 1.0))
                costs.append(c)
            results.setdefault(pattern, {})[name] = {
                "slo_violation_rate": float(np.mean(fails)),
                "slo_violation_ci95": float(1.96 * np.std(fails, ddof=1) / np.sqrt(len(fails)))
                if len(fails) > 1
                else 0.0,
                "cost_usd": float(np.mean(costs)),
            }
    out = {
        "service": "pools",
        "train_steps": args.steps,
        "train_seconds": round(train_s, 1),
        "seeds": args.seeds,
        "episode_steps": steps,
        "results": results,
    }
    lines = [
        "# Pools (GPU/CPU): learned policy vs static fleets",
        "",
        f"PPO trained {args.steps} steps; {args.seeds} seeds per pattern, {steps} steps of 15 s.",
        "",
        "| pattern | policy | SLO violation rate | cost $ |",
        "|---|---|---|---|",
    ]
    for pattern, rows in results.items():
        for name, r in rows.items():
            lines.append(
                f"| {pattern} | {name} | {r['slo_violation_rate']:.4f} ± {r['slo_violation_ci95']:.4f} | {r['cost_usd']:.4f} |"
            )
    _write(Path(args.out) / "report.json", json.dumps(out, indent=2) + "\n")
    _write(Path(args.out) / "report.md", "\n".join(lines) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
