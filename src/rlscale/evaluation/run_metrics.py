"""Every figure of a report row, computed once from a run's per-step counts (issue 12).

The runner records the simulator's :class:`~rlscale.sim.simulator.StepMetrics` for every
(window, seed) env of a policy; :func:`seed_metrics` pools them per seed over the windows,
with the conventions of :mod:`rlscale.evaluation.metrics` (the one SLO violation rate of
:mod:`rlscale.core.slo_budget`, served-weighted latency mixtures, SPEC RG elasticity against
the oracle's demand). Training's validation reads the same figures (tests/agents).
"""

from __future__ import annotations

import numpy as np

from rlscale.evaluation import metrics as m
from rlscale.sim import simulator as sim
from rlscale.sim.params import ServiceParams

#: StepMetrics fields that define a step's latency law (``sim.latency_survival``).
_LAW_FIELDS = ("lat_base_s", "lat_width_s", "lat_wait_prob", "lat_wait_rate", "lat_service_rate")
_NO_STEP = {name: np.zeros(1) for name in sim.StepMetrics.field_names() if name not in _LAW_FIELDS}

#: Latency quantiles reported per run.
QUANTILES: dict[str, float] = {"p50_latency_s": 0.50, "p95_latency_s": 0.95, "p99_latency_s": 0.99}


def seed_metrics(
    params: ServiceParams,
    stacked: sim.StepMetrics,
    demand: np.ndarray,
    valid: np.ndarray,
    initial: np.ndarray,
    windows: int,
    seeds: int,
) -> dict[str, np.ndarray]:
    """Per-seed metrics pooled over windows: every figure of a report row, computed here
    only. ``stacked`` fields are ``(T, W·S)``, env ``w·S + s``."""
    step_s = params.step_s
    t_len = demand.shape[1]

    def arr(name: str) -> np.ndarray:  # (T, W, S)
        return np.asarray(getattr(stacked, name), dtype=np.float64).reshape(t_len, windows, seeds)

    mask = valid.T[:, :, None]  # (T, W, 1)
    vmask = np.broadcast_to(mask, (t_len, windows, seeds))
    out: dict[str, np.ndarray] = {}
    offered = arr("offered") * mask
    out["offered_requests"] = offered.sum(axis=(0, 1))
    out["slo_violation_rate"] = np.asarray(
        m.slo_violation_rate(arr("violating") * mask, arr("dropped") * mask, offered, axis=(0, 1))
    )
    # run-level latency quantiles: the served-weighted mixture over every valid step of every
    # window, one column per (level, seed)
    rows_n = t_len * windows
    served = (arr("served") * mask).reshape(rows_n, seeds)
    law = {name: arr(name).reshape(rows_n, seeds) for name in _LAW_FIELDS}
    levels = np.repeat(list(QUANTILES.values()), seeds)
    col_seed = np.tile(np.arange(seeds), len(QUANTILES))

    def survival_density(x: np.ndarray, rows: slice, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = col_seed[cols]
        block = sim.StepMetrics(**_NO_STEP, **{name: v[rows][:, s] for name, v in law.items()})
        return sim.latency_survival_density(x[None, :], block)

    # first guess: base + (mean − base)·(−ln(1 − q)), each level of an exponential tail
    total = np.maximum(served.sum(axis=0), 1e-300)
    base = (served * law["lat_base_s"]).sum(axis=0) / total
    mean = (served * arr("latency_mean_s").reshape(rows_n, seeds)).sum(axis=0) / total
    quant = m.mixture_quantile_newton(
        levels,
        survival_density,
        served[:, col_seed],
        x0_s=(base + np.maximum(mean - base, 1e-6) * -np.log1p(-levels.reshape(-1, seeds))).reshape(-1),
    ).reshape(len(QUANTILES), seeds)
    for i, key in enumerate(QUANTILES):
        out[key] = quant[i]
    out["pod_hours"] = np.asarray(m.hours((arr("pod_seconds") * mask).reshape(-1, seeds), axis=0))
    out["cpu_core_hours"] = np.asarray(m.hours((arr("cpu_core_seconds") * mask).reshape(-1, seeds), axis=0))
    out["cost_usd"] = (arr("cost_usd") * mask).sum(axis=(0, 1))
    valid_steps = vmask.sum(axis=(0, 1))
    out["avg_replicas"] = (arr("ready") * mask).sum(axis=(0, 1)) / valid_steps
    # scaling actions: changes of the desired count (the initial count counts as step −1)
    desired = arr("desired")
    prev = np.concatenate(
        [np.broadcast_to(initial.reshape(1, windows, seeds), (1, windows, seeds)), desired[:-1]]
    )
    changes = ((desired != prev) & vmask).sum(axis=(0, 1))
    valid_hours = valid_steps * step_s / m.SECONDS_PER_HOUR
    out["scaling_actions_per_hour"] = changes / valid_hours
    # SPEC RG elasticity against the oracle's demand, per window over its valid steps
    ready = arr("ready")
    acc = {k: np.zeros(seeds) for k in ("theta_u", "theta_o", "tau_u", "tau_o", "instability", "jitter")}
    weight_total = 0.0
    for w in range(windows):
        idx = valid[w]
        n_valid = int(idx.sum())
        if n_valid == 0:
            continue
        d = np.broadcast_to(demand[w, idx][:, None], (n_valid, seeds))
        e = m.elasticity(d, ready[idx, w, :], step_s)
        acc["theta_u"] += n_valid * e.theta_u
        acc["theta_o"] += n_valid * e.theta_o
        acc["tau_u"] += n_valid * e.tau_u
        acc["tau_o"] += n_valid * e.tau_o
        acc["instability"] += n_valid * e.instability
        acc["jitter"] += n_valid * e.jitter_per_hour
        weight_total += n_valid
    for k, v in acc.items():
        out[k] = v / weight_total
    return out
