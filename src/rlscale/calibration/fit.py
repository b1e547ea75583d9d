"""Fit a service preset (:class:`rlscale.sim.ServiceParams`) to a Deployment's history.

The estimators invert the simulator's own service model (``ServiceParams``, DESIGN.md §3),
reading only what real exporters show (:mod:`rlscale.calibration.history`):

- **CPU line.** A ready pod burns ``idle + rate · cpu_per_request`` cores (capped at its
  limit), so per-pod CPU against per-pod served rate, over windows where the ready count did
  not change, is a straight line: least squares gives idle CPU (intercept) and CPU-seconds per
  request (slope).
- **Capacity.** ``mu = (cpu_limit − idle) / cpu_per_request``. Where saturation was observed
  (CPU at the limit, or drops) the served rate per pod *is* the capacity: that direct
  measurement wins and the CPU cost per request is set so the preset reproduces it.
- **Start-up delay.** Each increase of the desired replicas, started from a settled
  Deployment, gives one lag per new pod: from the desired count's change to the ready count
  reaching that pod's level. Mean, min and max of those lags.
- **Base latency.** Mean latency (histogram ``_sum``/``_count``) at low utilisation minus the
  M/M/c sojourn (``1/mu`` + Erlang C wait with ``c`` = ready pods) is the fixed overhead.

Rates over a window are averages, so a window that straddles a ready-count change mixes two
regimes: such samples are left out. Overlapping windows are correlated; uncertainties use an
effective sample count ``n · step / window``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.calibration.history import History
from rlscale.core.atomic_file import write_text_atomic
from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import erlang_c, latency_quantile_params

#: Per-pod CPU at or above this fraction of the limit counts as saturated (CFS throttling
#: keeps a busy container just under its quota, so "at the limit" needs some slack).
SATURATION_CPU_FRACTION = 0.97
#: Base latency is read at utilisation up to this (queueing dominates above it, so an error in
#: the capacity would leak into the base latency).
MAX_LATENCY_FIT_UTILISATION = 0.8
#: Fewest usable samples (windows) for a fit; below it the base preset's value is kept.
MIN_SAMPLES = 3
#: Per-pod served rates must spread at least this much (relative to their median) to
#: separate idle CPU from CPU per request.
MIN_RATE_SPREAD = 0.2

GIB = 2.0**30


@dataclass(frozen=True)
class FittedParameter:
    """One parameter of the preset: its value, how sure, from how many samples, and whence.

    ``stderr`` is a standard error (NaN when not estimated); ``source`` says which estimator
    gave the value (``"base preset"`` when the data could not)."""

    name: str
    value: float
    unit: str
    stderr: float = math.nan
    samples: int = 0
    source: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CalibrationResult:
    params: ServiceParams
    parameters: list[FittedParameter]
    notes: list[str] = field(default_factory=list)
    diagnostics: dict[str, float] = field(default_factory=dict)

    def parameter(self, name: str) -> FittedParameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no fitted parameter {name!r}; known: {[p.name for p in self.parameters]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": [p.to_dict() for p in self.parameters],
            "notes": list(self.notes),
            "diagnostics": dict(self.diagnostics),
            "preset": self.params.to_dict(),
        }

    def write_report(self, path: str | os.PathLike[str]) -> Path:
        """:meth:`to_dict` as JSON, written atomically (temp file, then rename)."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n")


# ------------------------------------------------------------------------------- helpers
def stable_mask(history: History, margin_s: float | None = None) -> np.ndarray:
    """True where the ready count was known and constant over the whole rate window ending at
    each rate sample (plus ``margin_s`` for the scrape that saw the change late)."""
    t = history.time_s
    rt = history.replica_time_s
    ready = history.replicas["ready_replicas"]
    if margin_s is None:
        step = float(rt[1] - rt[0]) if rt.size > 1 else 0.0
        margin_s = max(2.0 * step, 0.25 * history.window_s)
    lo = np.searchsorted(rt, t - history.window_s - margin_s, side="left")
    hi = np.searchsorted(rt, t + 1e-9, side="right")
    out = np.zeros(t.size, dtype=bool)
    for i in range(t.size):
        seg = ready[lo[i] : hi[i]]
        if seg.size == 0 or t[i] - history.window_s - margin_s < rt[0]:
            continue
        if np.all(np.isfinite(seg)) and seg.min() == seg.max() and seg[0] > 0:
            out[i] = True
    return out


def _n_eff(n: int, history: History) -> float:
    step = float(history.time_s[1] - history.time_s[0]) if history.time_s.size > 1 else history.window_s
    return max(1.0, n * min(1.0, step / history.window_s))


def _robust_median(values: np.ndarray, n_eff: float) -> tuple[float, float]:
    """Median and its standard error (1.2533 · σ/√n, σ from the MAD)."""
    med = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - med)))
    return med, 1.2533 * sigma / math.sqrt(max(n_eff, 1.0))


def mmc_mean_wait_s(ready: np.ndarray, rate_rps: np.ndarray, mu_rps: float) -> np.ndarray:
    """Mean M/M/c waiting time (Erlang C / (c·mu − λ)); inf at or above saturation."""
    c = np.asarray(ready, dtype=np.float64)
    lam = np.asarray(rate_rps, dtype=np.float64)
    a = lam / mu_rps
    prob = erlang_c(np.maximum(c, 1.0), a)
    with np.errstate(divide="ignore"):
        return np.where(c * mu_rps > lam, prob / np.maximum(c * mu_rps - lam, 1e-300), np.inf)


@dataclass(frozen=True)
class StartupLag:
    """One new pod: the desired count rose at ``desired_time_s`` to cover it and the ready
    count reached its ``level`` ``lag_s`` later."""

    desired_time_s: float
    level: int
    lag_s: float


def startup_lags(history: History) -> tuple[list[StartupLag], list[str]]:
    """Per-pod lags from each clean scale-up (see the module docstring) and notes on the
    increases that could not be used."""
    rt = history.replica_time_s
    desired = history.replicas["desired_replicas"]
    ready = history.replicas["ready_replicas"]
    lags: list[StartupLag] = []
    notes: list[str] = []
    for i in range(1, rt.size):
        d0, d1 = desired[i - 1], desired[i]
        if not (np.isfinite(d0) and np.isfinite(d1)) or d1 <= d0:
            continue
        if not (np.isfinite(ready[i - 1]) and ready[i - 1] >= d0):
            notes.append(
                f"scale-up {int(d0)}->{int(d1)} at t={rt[i] - rt[0]:.1f} s not used: "
                "the previous scale-up was still starting"
            )
            continue
        change = np.nonzero(np.isfinite(desired[i:]) & (desired[i:] != d1))[0]
        end = i + int(change[0]) if change.size else rt.size
        reached = 0
        for level in range(int(d0) + 1, int(d1) + 1):
            hit = np.nonzero(ready[i:end] >= level)[0]
            if hit.size == 0:
                continue
            reached += 1
            lags.append(StartupLag(float(rt[i]), level, float(rt[i + int(hit[0])] - rt[i])))
        if reached < int(d1 - d0):
            notes.append(
                f"scale-up {int(d0)}->{int(d1)} at t={rt[i] - rt[0]:.1f} s: {int(d1 - d0) - reached} "
                "pod(s) not ready before the desired count changed again or the window ended"
            )
    return lags, notes


# ------------------------------------------------------------------------------- the fit
def fit_service(
    history: History,
    base: ServiceParams,
    *,
    name: str | None = None,
    cpu_limit_cores: float | None = None,
) -> CalibrationResult:
    """Fit capacity, CPU model, start-up delay and base latency; everything else comes from
    ``base``. Raises ``ValueError`` when not even the capacity can be fitted."""
    if base.num_envs is not None:
        raise ValueError("fit_service: the base preset must have scalar parameters, not per-env arrays")
    notes = list(history.notes)
    params_out: list[FittedParameter] = []
    diagnostics: dict[str, float] = {}
    r = history.rates
    t = history.time_s
    ready = history.replicas_at("ready_replicas", t)
    served = r["served_rps"]
    cpu = r["cpu_usage_cores"]
    dropped = np.nan_to_num(r["dropped_rps"], nan=0.0)
    stable = stable_mask(history) & np.isfinite(served) & np.isfinite(cpu) & (ready > 0)
    diagnostics["samples"] = float(t.size)
    diagnostics["stable_samples"] = float(stable.sum())
    if stable.sum() < MIN_SAMPLES:
        raise ValueError(
            f"only {int(stable.sum())} of {t.size} samples have a constant ready count over the "
            f"{history.window_s:g} s rate window: use a longer --since or a shorter --window"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_pp = served / ready
        cpu_pp = cpu / ready

    # --- CPU request / limit ----------------------------------------------------------
    request = history.constants.get("cpu_request_cores", math.nan)
    if not (np.isfinite(request) and request > 0):
        raise ValueError(f"CPU request per pod not found (query: {history.queries.get('cpu_request_cores')})")
    params_out.append(FittedParameter("cpu_request_cores", request, "cores", source="kube-state-metrics"))
    if cpu_limit_cores is not None:
        limit, limit_source = float(cpu_limit_cores), "--cpu-limit-cores"
    elif np.isfinite(history.constants.get("cpu_limit_cores", math.nan)):
        limit, limit_source = float(history.constants["cpu_limit_cores"]), "kube-state-metrics"
    else:
        limit, limit_source = request, "= request"
        notes.append(
            "no CPU limit exported (kube_pod_container_resource_limits): the limit is taken equal to "
            "the request (Guaranteed QoS); pass --cpu-limit-cores if it differs"
        )
    peak_cpu = float(np.nanmax(cpu_pp[stable]))
    if peak_cpu > limit * 1.02:
        notes.append(
            f"per-pod CPU reached {peak_cpu:.3f} cores, above the assumed limit {limit:.3f}: "
            "the limit is wrong (pass --cpu-limit-cores)"
        )
    params_out.append(FittedParameter("cpu_limit_cores", limit, "cores", source=limit_source))
    memory = history.constants.get("memory_request_bytes", math.nan)
    memory_gib = memory / GIB if np.isfinite(memory) and memory > 0 else float(base.spec.memory_request_gib)
    params_out.append(
        FittedParameter(
            "memory_request_gib",
            memory_gib,
            "GiB",
            source="kube-state-metrics" if np.isfinite(memory) else "base preset",
        )
    )

    # --- saturation and the CPU line -------------------------------------------------
    saturated = stable & (
        (cpu_pp >= SATURATION_CPU_FRACTION * limit) | (dropped > 0.01 * np.maximum(served, 1e-9))
    )
    usable = stable & ~saturated & (served > 0)
    n_cpu = int(usable.sum())
    x, y = rate_pp[usable], cpu_pp[usable]
    base_idle = float(base.cpu_idle_cores)
    if n_cpu >= MIN_SAMPLES and np.ptp(x) >= MIN_RATE_SPREAD * max(float(np.median(x)), 1e-9):
        design = np.column_stack([np.ones(n_cpu), x])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        idle, cpr = float(coef[0]), float(coef[1])
        resid = y - design @ coef
        dof = max(n_cpu - 2, 1)
        cov = np.linalg.pinv(design.T @ design) * float(resid @ resid) / dof
        inflate = math.sqrt(n_cpu / _n_eff(n_cpu, history))
        idle_se, cpr_se = (math.sqrt(max(float(cov[i, i]), 0.0)) * inflate for i in (0, 1))
        cpu_source = "least squares, CPU vs served rate per pod"
        diagnostics["cpu_fit_r2"] = float(
            1.0 - (resid @ resid) / max(float(((y - y.mean()) ** 2).sum()), 1e-300)
        )
        if idle < 0:
            notes.append(f"fitted idle CPU {idle:.4f} < 0 set to 0")
            idle = 0.0
    elif n_cpu >= 1:
        idle, idle_se = base_idle, math.nan
        ratios = (y - idle) / np.maximum(x, 1e-9)
        cpr, cpr_se = _robust_median(ratios, _n_eff(n_cpu, history))
        cpu_source = "median (CPU − base idle) / rate"
        notes.append(
            "per-pod load hardly varied: idle CPU cannot be separated from CPU per request; "
            f"kept the base preset's idle CPU {base_idle:g} cores"
        )
    else:
        raise ValueError("no unsaturated sample with traffic: cannot fit the CPU cost of a request")
    if not cpr > 0:
        raise ValueError(f"fitted CPU per request {cpr:g} core-s is not positive: is CPU tracking the load?")
    if idle >= limit:
        raise ValueError(f"fitted idle CPU {idle:g} cores is not below the CPU limit {limit:g}")
    mu_cpu = (limit - idle) / cpr
    mu_cpu_se = (
        math.sqrt((idle_se / cpr) ** 2 + (mu_cpu * cpr_se / cpr) ** 2)
        if np.isfinite(idle_se)
        else mu_cpu * cpr_se / cpr
    )
    n_sat = int(saturated.sum())
    if n_sat >= MIN_SAMPLES:
        mu, mu_se = _robust_median(rate_pp[saturated], _n_eff(n_sat, history))
        mu_source, mu_n = "served rate per pod at saturation", n_sat
        diagnostics["capacity_from_cpu_rps"] = mu_cpu
        model_cpr = (limit - idle) / mu
        if abs(mu - mu_cpu) > 0.1 * mu:
            notes.append(
                f"capacity at saturation {mu:.3g} req/s differs from the CPU estimate {mu_cpu:.3g} by "
                f"{abs(mu / mu_cpu - 1):.0%}: something other than CPU limits throughput (or the limit is wrong)"
            )
    else:
        mu, mu_se, mu_source, mu_n = mu_cpu, mu_cpu_se, "(limit − idle) / CPU per request", n_cpu
        model_cpr = cpr
        if n_sat:
            notes.append(f"only {n_sat} saturated sample(s): capacity from the CPU fit")
    params_out.append(FittedParameter("pod_capacity_rps", mu, "req/s", mu_se, mu_n, mu_source))
    params_out.append(
        FittedParameter(
            "cpu_per_request_core_s",
            cpr,
            "core-s",
            cpr_se,
            n_cpu,
            cpu_source,
            note="" if model_cpr == cpr else f"preset uses {model_cpr:.4g} to match capacity",
        )
    )
    params_out.append(
        FittedParameter(
            "cpu_idle_cores",
            idle,
            "cores",
            idle_se,
            n_cpu,
            cpu_source if np.isfinite(idle_se) else "base preset",
        )
    )

    # --- start-up delay ----------------------------------------------------------------
    lags, lag_notes = startup_lags(history)
    notes += lag_notes
    if lags:
        values = np.array([lag.lag_s for lag in lags])
        events = len({lag.desired_time_s for lag in lags})
        mean_lag = float(values.mean())
        lag_se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
        resolution = (
            float(history.replica_time_s[1] - history.replica_time_s[0])
            if history.replica_time_s.size > 1
            else math.nan
        )
        source = f"{values.size} pod(s) in {events} scale-up(s)"
        params_out.append(
            FittedParameter(
                "startup_delay_s",
                mean_lag,
                "s",
                lag_se,
                values.size,
                source,
                note=f"resolution {resolution:g} s (replica grid) plus one scrape",
            )
        )
        params_out.append(
            FittedParameter(
                "startup_delay_min_s", float(values.min()), "s", samples=values.size, source=source
            )
        )
        params_out.append(
            FittedParameter(
                "startup_delay_max_s", float(values.max()), "s", samples=values.size, source=source
            )
        )
        startup = (mean_lag, float(values.min()), float(values.max()))
    else:
        startup = (
            float(base.spec.startup_delay_s),
            float(base.startup_delay_min_s),
            float(base.startup_delay_max_s),
        )
        notes.append(
            "no scale-up observed (desired replicas never rose from a settled state): cannot fit the "
            f"start-up delay; kept the base preset's {startup[1]:g}–{startup[2]:g} s"
        )
        for pname, value in zip(
            ("startup_delay_s", "startup_delay_min_s", "startup_delay_max_s"), startup, strict=True
        ):
            params_out.append(
                FittedParameter(pname, value, "s", source="base preset", note="no scale-up observed")
            )

    # --- base latency and the latency curve ------------------------------------------
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_latency = r["latency_sum_rate"] / served
        util = served / (ready * mu)
    offered = r["request_rate_rps"]
    lagged = np.interp(t - history.window_s, t, offered, left=np.nan)
    load_steady = np.abs(offered - lagged) <= 0.1 * np.maximum(offered, 1e-9)
    clean = (
        stable & ~saturated & np.isfinite(mean_latency) & (served > 0) & (dropped <= 1e-9 + 0.001 * served)
    )
    low = clean & load_steady & (util <= MAX_LATENCY_FIT_UTILISATION)
    sojourn = 1.0 / mu + mmc_mean_wait_s(ready, served, mu)
    n_lat = int(low.sum())
    if n_lat >= MIN_SAMPLES:
        base_lat, base_lat_se = _robust_median(mean_latency[low] - sojourn[low], _n_eff(n_lat, history))
        lat_source = "mean latency − M/M/c sojourn, utilisation ≤ 0.8"
        if base_lat < 0:
            notes.append(f"fitted base latency {base_lat:.4g} s < 0 (capacity overestimated?) set to 0")
            base_lat = 0.0
    else:
        base_lat, base_lat_se, lat_source = float(base.base_latency_s), math.nan, "base preset"
        notes.append(
            f"only {n_lat} steady low-utilisation sample(s) with latency: kept the base preset's "
            f"base latency {base_lat:g} s"
        )
    params_out.append(FittedParameter("base_latency_s", base_lat, "s", base_lat_se, n_lat, lat_source))
    curve = clean & load_steady & (util < 0.95)
    if curve.sum() >= MIN_SAMPLES:
        predicted = base_lat + sojourn[curve]
        rel = np.abs(predicted / mean_latency[curve] - 1.0)
        diagnostics["latency_mean_median_rel_error"] = float(np.median(rel))
        diagnostics["latency_curve_samples"] = float(curve.sum())
        p95 = r.get("latency_p95_s")
        if p95 is not None and np.any(np.isfinite(p95[curve])):
            c = np.maximum(ready[curve], 1.0)
            lam = served[curve]
            wait_prob = erlang_c(c, lam / mu)
            model_p95 = latency_quantile_params(
                0.95,
                np.full(c.shape, base_lat),
                np.zeros(c.shape),
                wait_prob,
                np.maximum(c * mu - lam, 1e-9),
                np.full(c.shape, mu),
            )
            ok = np.isfinite(p95[curve])
            diagnostics["latency_p95_median_rel_error"] = float(
                np.median(np.abs(model_p95[ok] / p95[curve][ok] - 1.0))
            )

    spec = replace(
        base.spec,
        name=name or base.spec.name,
        pod_capacity_rps=float(mu),
        startup_delay_s=startup[0],
        cpu_request_cores=float(request),
        memory_request_gib=float(memory_gib),
    )
    fitted = replace(
        base,
        spec=spec,
        cpu_per_request_core_s=float(model_cpr),
        cpu_idle_cores=float(idle),
        cpu_limit_cores=float(limit),
        base_latency_s=float(base_lat),
        startup_delay_min_s=startup[1],
        startup_delay_max_s=startup[2],
        description=f"fitted by `rlscale calibrate` from Prometheus history; other fields from base preset "
        f"{base.spec.name!r}",
    )
    return CalibrationResult(params=fitted, parameters=params_out, notes=notes, diagnostics=diagnostics)
