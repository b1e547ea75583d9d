"""Fast simulator vs the event-level reference (``rlscale.sim.reference``, SimPy), per regime.
Prints JSON (issue 17).

Regimes, all on the ``web`` preset (mu = 105 req/s per pod, SLO 0.2 s, 15 s steps):

- ``steady``: a fixed pod count c in {1, 4, 10, 50} and a constant rate at rho = lambda/(c mu) in
  {0.5, 0.8, 0.95, 1.05, 1.2}. Below saturation the judge is M/M/c in closed form (what the
  event-level simulation converges to; its own estimate and batch-means standard error are
  listed beside it, since near saturation one run holds few independent busy periods);
  above it, the event-level run.
- ``bursty``: fixed c in {4, 10}, an on/off rate (``workload.synthetic.bursty``: rho 0.5 off,
  0.95 or 1.1 on, mean dwell 120 s / 60 s) over one hour.
- ``policies``: a policy (the HPA, the shipped learned policy) runs closed-loop on the fast
  simulator over a test-trace window (NASA 30 min, Twitter 1 h: its bursts); its replica
  decisions are then replayed open-loop in both simulators.

The fast figures are expectations over many environments (``--fast-envs``); the event-level
ones from one run per regime (steady runs sized to ``--requests``). A regime is judged when the
reference's violation rate is >= 1e-4: within 10 % relative on steady load, 20 % on bursty
load and policy runs (the issue's bar).

    OMP_NUM_THREADS=1 python bench/fidelity.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from rlscale.evaluation.traces import prepare_trace  # noqa: E402
from rlscale.policies.registry import build_policy  # noqa: E402
from rlscale.sim import (  # noqa: E402
    StepMetrics,
    get_preset,
    init_state,
    mmc_sojourn_quantile,
    mmc_sojourn_survival,
    step,
)
from rlscale.sim.reference import ReferenceResult, simulate_reference  # noqa: E402
from rlscale.sim.rollout import rollout, summarize  # noqa: E402
from rlscale.workload.synthetic import bursty  # noqa: E402

JUDGED_FROM = 1e-4
STEADY_TOLERANCE = 0.10
BURSTY_TOLERANCE = 0.20
POLICY_TOLERANCE = 0.20
#: the web preset, allowed up to 50 pods so the fixed-c regimes are not clamped (max 20)
PARAMS = replace(get_preset("web"), spec=replace(get_preset("web").spec, max_replicas=50))
MU = float(PARAMS.mu_rps)
DT = PARAMS.step_s


def _fast(rates: np.ndarray, desired: np.ndarray, initial: int, envs: int, seed: int) -> dict[str, float]:
    """The fast simulator's expectation: ``envs`` independent replays of the same decisions."""
    rng = np.random.default_rng(seed)
    state = init_state(PARAMS, envs, initial, rng, initial_rate_rps=rates[0])
    steps = []
    for t in range(rates.shape[0]):
        state, m = step(PARAMS, state, np.full(envs, rates[t]), np.full(envs, desired[t]), rng)
        steps.append(m)
    s = summarize(StepMetrics.stack(steps), PARAMS)
    return {
        "violation_rate": s["slo_violation_rate"],
        "latency_p95_s": s["latency_p95_s"],
        "latency_p99_s": s["latency_p99_s"],
        "cost_usd": s["cost_usd"] / envs,
    }


def _reference(rates: np.ndarray, desired: np.ndarray, initial: int, seed: int) -> dict[str, float]:
    r: ReferenceResult = simulate_reference(PARAMS, rates, desired, initial, seed)
    batches = np.array_split(np.arange(rates.shape[0]), min(10, rates.shape[0]))
    per_batch = [r.step_failures[b].sum() / max(r.step_offered[b].sum(), 1) for b in batches]
    se = float(np.std(per_batch, ddof=1) / math.sqrt(len(per_batch))) if len(per_batch) > 1 else None
    return {
        "violation_rate": r.violation_rate,
        "violation_rate_se": se,
        "latency_p95_s": r.latency_quantile_s(0.95),
        "latency_p99_s": r.latency_quantile_s(0.99),
        "cost_usd": r.cost_usd,
        "requests": r.offered,
    }


def _verdict(fast: float, judge: float, tolerance: float) -> dict[str, Any]:
    if not (judge >= JUDGED_FROM):
        return {"judged": False, "relative_error": None, "within": None}
    rel = fast / judge - 1.0
    return {"judged": True, "relative_error": rel, "within": abs(rel) <= tolerance, "tolerance": tolerance}


def _steps_for(mean_rate: float, requests: int, min_steps: int) -> int:
    return int(np.clip(math.ceil(requests / max(mean_rate * DT, 1.0)), min_steps, 400))


def steady(
    cs: tuple[int, ...], rhos: tuple[float, ...], requests: int, envs: int, min_steps: int
) -> list[dict]:
    rows = []
    slo_wait_s = PARAMS.spec.slo_latency_s - float(PARAMS.base_latency_s)
    for c in cs:
        for rho in rhos:
            lam = rho * c * MU
            steps = _steps_for(lam, requests, min_steps)
            rates, desired = np.full(steps, lam), np.full(steps, c)
            fast = _fast(rates, desired, c, envs, seed=c)
            ref = _reference(rates, desired, c, seed=c)
            row: dict[str, Any] = {"c": c, "rho": rho, "steps": steps, "fast": fast, "reference": ref}
            judge = ref["violation_rate"]
            if rho < 1.0:
                base = float(PARAMS.base_latency_s)
                row["mmc_exact"] = {
                    "violation_rate": float(mmc_sojourn_survival(slo_wait_s, c, lam, MU)),
                    "latency_p95_s": base + float(mmc_sojourn_quantile(0.95, c, lam, MU)),
                    "latency_p99_s": base + float(mmc_sojourn_quantile(0.99, c, lam, MU)),
                }
                judge = row["mmc_exact"]["violation_rate"]
            row["judged_against"] = "mmc_exact" if rho < 1.0 else "reference"
            row.update(_verdict(fast["violation_rate"], judge, STEADY_TOLERANCE))
            rows.append(row)
    return rows


def bursty_load(regimes: tuple[tuple[int, float], ...], steps: int, envs: int) -> list[dict]:
    """Fixed c, on/off load: ``steps`` long enough for many bursts (one event-level run holds
    few deep queue excursions per burst, so short runs judge noise)."""
    rows = []
    for c, peak in regimes:
        cap = c * MU
        rates = bursty(
            steps, DT, seed=c, low_rps=0.5 * cap, high_rps=peak * cap, mean_on_s=60.0, mean_off_s=120.0
        )
        desired = np.full(steps, c)
        fast = _fast(rates, desired, c, envs, seed=c)
        ref = _reference(rates, desired, c, seed=c)
        rows.append(
            {
                "c": c,
                "rho_off": 0.5,
                "rho_on": peak,
                "steps": steps,
                "on_fraction": float(np.mean(rates > 0.5 * cap)),
                "fast": fast,
                "reference": ref,
                **_verdict(fast["violation_rate"], ref["violation_rate"], BURSTY_TOLERANCE),
            }
        )
    return rows


def policies(specs: tuple[str, ...], traces: tuple[tuple[str, float], ...], envs: int) -> list[dict]:
    """Each policy on each ``(trace, hours)`` test window (the first of the evaluation's)."""
    rows = []
    web = get_preset("web")  # as shipped: the policies' bounds are its 1-20 pods
    for trace, hours in traces:
        rates = prepare_trace(trace, web, windows=1, window_hours=hours).rates_rps[0]
        for spec in specs:
            policy = build_policy(spec, web.spec, 1)
            closed = rollout(web, rates, policy, seed=0)
            desired = np.asarray(closed.desired)[:, 0]
            initial = int(np.asarray(closed.ready)[0, 0] + np.asarray(closed.pending)[0, 0])
            fast = _fast(rates, desired, initial, envs, seed=1)
            ref = _reference(rates, desired, initial, seed=1)
            rows.append(
                {
                    "policy": spec,
                    "trace": trace,
                    "hours": hours,
                    "mean_replicas": float(desired.mean()),
                    "fast": fast,
                    "reference": ref,
                    **_verdict(fast["violation_rate"], ref["violation_rate"], POLICY_TOLERANCE),
                }
            )
    return rows


def _summary(groups: dict[str, list[dict]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, rows in groups.items():
        judged = [r for r in rows if r["judged"]]
        out[name] = {
            "judged": len(judged),
            "within": sum(bool(r["within"]) for r in judged),
            "outside": [
                {k: r[k] for k in ("c", "rho", "rho_on", "policy", "trace", "relative_error") if k in r}
                for r in judged
                if not r["within"]
            ],
        }
    steady_bar = [r for r in groups["steady"] if r["judged"] and r["rho"] <= 0.95]
    out["done_when"] = {
        "steady_rho_le_0_95_within_10pct": all(r["within"] for r in steady_bar),
        "bursty_within_20pct": all(r["within"] for r in groups["bursty"] if r["judged"]),
        "policies_within_20pct": all(r["within"] for r in groups["policies"] if r["judged"]),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few small regimes (CI): seconds, not minutes")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="requests per steady event-level run (default 200k, quick 20k)",
    )
    parser.add_argument(
        "--fast-envs", type=int, default=None, help="fast-simulator envs per regime (default 400, quick 50)"
    )
    args = parser.parse_args()
    quick = args.quick
    requests = args.requests or (20_000 if quick else 200_000)
    envs = args.fast_envs or (50 if quick else 400)
    t0 = time.perf_counter()
    groups = {
        "steady": steady(
            (1, 4) if quick else (1, 4, 10, 50),
            (0.8, 0.95, 1.2) if quick else (0.5, 0.8, 0.95, 1.05, 1.2),
            requests,
            envs,
            min_steps=4 if quick else 8,
        ),
        "bursty": bursty_load(
            ((4, 1.1),) if quick else ((4, 0.95), (4, 1.1), (10, 1.1)), 24 if quick else 240, envs
        ),
        "policies": policies(
            ("hpa",) if quick else ("hpa", "hpa:target=50", "learned"),
            (("nasa", 0.1),) if quick else (("nasa", 0.5), ("twitter-15s", 1.0)),
            envs,
        ),
    }
    result = {
        "service": "web",
        "mu_rps": MU,
        "slo_latency_s": PARAMS.spec.slo_latency_s,
        "requests_per_reference_run": requests,
        "fast_envs": envs,
        **groups,
        "summary": _summary(groups),
        "wall_s": time.perf_counter() - t0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
