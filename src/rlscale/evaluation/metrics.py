"""Evaluation metrics as pure functions of per-step arrays (DESIGN.md §7,
``reference/autoscalers.md`` §7).

Everything here takes plain NumPy arrays with time on axis 0 so it can be tested on
hand-computed traces and reused by any harness. Conventions:

* Request-level SLO violation rate ``V = (violating served + dropped) / offered``
  (reference §7.1): a dropped request counts as a violation, a request still queued at the
  end of a run counts in neither numerator nor served.
* Latency quantiles are quantiles of the *served-weighted mixture* of the per-step latency
  distributions, found by bisection on the mixture survival function. They are exact for the
  simulator's latency model, never an average of per-step percentiles (reference §7.1: "never
  averaged across windows"). Dropped requests are not in the latency quantiles (they are in V).
* SPEC RG elasticity metrics (reference §7.3; Herbst et al., ICAC 2013 and SPEC-RG-2016-01)
  with demand ``d_t`` = the oracle's demand (fewest replicas meeting the SLO at the step's
  load) and supply ``s_t`` = ready replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from rlscale.core.slo_budget import slo_violation_rate

__all__ = ["slo_violation_rate"]  # defined with the other SLO conventions in core.slo_budget

SECONDS_PER_HOUR = 3600.0


def _as_float(x: np.ndarray | Sequence[float]) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# User-facing SLO metrics (reference §7.1)
# --------------------------------------------------------------------------------------------


def mixture_quantile(
    quantile: float | np.ndarray,
    survival: Callable[[np.ndarray], np.ndarray],
    weights: np.ndarray,
    *,
    batch_shape: tuple[int, ...] = (),
    lo_s: float = 1e-6,
    hi_s: float = 1e4,
    iterations: int = 40,
) -> np.ndarray:
    """The ``quantile`` of a weighted mixture of distributions, by bisection in log space.

    ``survival(x)`` receives ``x`` of shape ``batch_shape`` broadcast against the per-step
    axes (i.e. ``x`` has shape ``(1, *batch_shape)`` against ``weights`` of shape
    ``(T, *batch_shape)``) and returns ``P(latency > x)`` per step, same shape as ``weights``.
    The mixture survival is ``S(x) = Σ_t w_t S_t(x) / Σ_t w_t`` (reduced over axis 0) and the
    result is the smallest ``x`` with ``S(x) <= 1 - quantile``, to a relative precision of
    ``(hi/lo)^(2^-iterations)`` (about 2e-11 with the defaults). ``quantile`` may be an array
    broadcast against ``batch_shape`` (several levels in one pass: give ``weights`` and the
    survival a size-1 axis for it). Returns NaN where the total weight is zero.

    Why bisection: the mixture of Erlang-C/M/M/c waiting-time laws has no closed-form
    inverse, but its survival is monotone, so bisection is exact to float precision.
    """
    q = np.asarray(quantile, dtype=np.float64)
    if np.any(~((q > 0.0) & (q < 1.0))):
        raise ValueError(f"mixture_quantile: quantile must be in (0, 1), got {quantile}")
    w = _as_float(weights)
    total = w.sum(axis=0)
    target = 1.0 - q
    log_lo = np.full(batch_shape, np.log(lo_s))
    log_hi = np.full(batch_shape, np.log(hi_s))
    safe_total = np.where(total > 0, total, 1.0)
    for _ in range(iterations):
        log_mid = 0.5 * (log_lo + log_hi)
        s = (w * survival(np.exp(log_mid)[None, ...])).sum(axis=0) / safe_total
        above = s > target  # quantile lies to the right of mid
        log_lo = np.where(above, log_mid, log_lo)
        log_hi = np.where(above, log_hi, log_mid)
    result = np.exp(log_hi)
    return np.where(total > 0, result, np.nan)


def mixture_quantile_newton(
    quantile: np.ndarray,
    survival_density: Callable[[np.ndarray, slice, np.ndarray], tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    *,
    lo_s: float = 1e-6,
    hi_s: float = 1e4,
    rtol: float = 1e-12,
    max_iterations: int = 100,
    x0_s: np.ndarray | None = None,
    block_rows: int = 4096,
) -> np.ndarray:
    """:func:`mixture_quantile` for ``K`` independent mixtures (columns) by safeguarded Newton:
    the same roots to ``rtol`` in a few passes over the steps instead of 40 (an evaluation's
    metrics cost is these passes over every step of a run).

    ``quantile``: ``(K,)`` levels; ``weights``: ``(T, K)``; ``survival_density(x, rows, cols)``
    returns ``(P(L > x), density at x)``, each ``(len(rows), len(cols))``, for the steps
    ``rows`` (a slice of at most ``block_rows``: blocks that stay in cache, ~2× faster on long
    runs) of the columns ``cols`` at their ``x`` (only columns not yet converged are asked).
    Newton runs on ``ln S(x)``, exact for an exponential tail (as in
    ``queueing.latency_quantile_params``); rtsafe's rule (bisection in log space when a step
    leaves the bracket or fails to halve) makes it converge wherever bisection does.
    ``x0_s``: a first guess per column; it saves iterations, never changes the root.
    Returns ``(K,)``, NaN where a column's total weight is zero."""
    q = np.asarray(quantile, dtype=np.float64).reshape(-1)
    if np.any(~((q > 0.0) & (q < 1.0))):
        raise ValueError(f"mixture_quantile_newton: quantile must be in (0, 1), got {quantile}")
    w = _as_float(weights)
    if w.ndim != 2 or w.shape[1] != q.size:
        raise ValueError(f"mixture_quantile_newton: weights must be (T, {q.size}), got {w.shape}")
    total = w.sum(axis=0)
    target = 1.0 - q
    lo = np.full(q.size, lo_s)
    hi = np.full(q.size, hi_s)
    x = np.sqrt(lo * hi) if x0_s is None else np.clip(np.asarray(x0_s, dtype=np.float64), 2 * lo_s, hi_s / 2)
    last_step = hi - lo
    done = total <= 0
    for _ in range(max_iterations):
        cols = np.flatnonzero(~done)
        if cols.size == 0:
            break
        surv = np.zeros(cols.size)
        dens = np.zeros(cols.size)
        x_cols = x[cols]
        every_col = cols.size == q.size  # then a block of w is a view, not a copy
        for start in range(0, w.shape[0], block_rows):
            rows = slice(start, start + block_rows)
            s_t, d_t = survival_density(x_cols, rows, cols)
            wb = w[rows] if every_col else w[rows][:, cols]
            surv += (wb * s_t).sum(axis=0)
            dens += (wb * d_t).sum(axis=0)
        surv /= total[cols]
        dens /= total[cols]
        xc, loc, hic = x[cols], lo[cols], hi[cols]
        above = surv > target[cols]  # the quantile lies to the right of x
        loc = np.where(above, xc, loc)
        hic = np.where(above, hic, xc)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xc + (np.log(surv) - np.log(target[cols])) * surv / dens
        finite = (dens > 0) & (surv > 0)
        ok = finite & (newton > loc) & (newton < hic) & (np.abs(newton - xc) <= 0.5 * last_step[cols])
        nxt = np.where(ok, newton, np.sqrt(loc * hic))
        converged = (finite & (np.abs(newton - xc) <= rtol * xc)) | (hic - loc <= rtol * hic)
        lo[cols], hi[cols] = loc, hic
        last_step[cols] = np.abs(nxt - xc)
        x[cols] = np.where(converged, xc, nxt)
        done[cols] = converged
    return np.where(total > 0, x, np.nan)


# --------------------------------------------------------------------------------------------
# Cost metrics (reference §7.2)
# --------------------------------------------------------------------------------------------


def hours(seconds: np.ndarray, axis: int | None = 0) -> np.ndarray | float:
    """Pod-seconds (or core-seconds) summed over ``axis`` and converted to hours:
    ``PH = Σ_t N_t Δt / 3600``."""
    out = np.sum(_as_float(seconds), axis=axis) / SECONDS_PER_HOUR
    return float(out) if np.ndim(out) == 0 else out


def scaling_actions(desired: np.ndarray, initial: np.ndarray | float | None = None) -> np.ndarray:
    """Number of changes of the desired replica count over axis 0 (reference §7.2 churn).

    ``initial`` is the replica count before the first step (a change at step 0 counts);
    without it the first step is the baseline.
    """
    d = _as_float(desired)
    if initial is not None:
        d = np.concatenate([np.broadcast_to(_as_float(initial), d.shape[1:])[None, ...], d], axis=0)
    if d.shape[0] < 2:
        return np.zeros(d.shape[1:])
    return np.count_nonzero(np.diff(d, axis=0) != 0, axis=0).astype(np.float64)


def scaling_actions_per_hour(
    desired: np.ndarray, step_s: float, initial: np.ndarray | float | None = None
) -> np.ndarray:
    """Scaling actions divided by the run's length in hours (``T·Δt / 3600``)."""
    duration_h = np.shape(desired)[0] * step_s / SECONDS_PER_HOUR
    return scaling_actions(desired, initial) / duration_h


# --------------------------------------------------------------------------------------------
# SPEC RG elasticity metrics (reference §7.3)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Elasticity:
    """SPEC RG elasticity metrics, arrays over the non-time axes.

    ``theta_u``/``theta_o`` [%]: mean relative under/over-provisioning ``(d−s)⁺/d``, ``(s−d)⁺/d``;
    ``tau_u``/``tau_o`` [%]: share of time under/over-provisioned; ``instability`` [%]: share of
    step pairs in which supply and demand do not move in the same direction;
    ``jitter_per_hour``: ``(E_S − E_D)/T`` with ``T`` in hours (negative: too inert, positive:
    oscillating).
    """

    theta_u: np.ndarray
    theta_o: np.ndarray
    tau_u: np.ndarray
    tau_o: np.ndarray
    instability: np.ndarray
    jitter_per_hour: np.ndarray


def elasticity(demand: np.ndarray, supply: np.ndarray, step_s: float) -> Elasticity:
    """θ_U, θ_O, τ_U, τ_O, υ and jitter from demand ``d_t`` and supply ``s_t`` (time on axis 0).

    The formulas (reference §7.3) multiply each step by ``Δt`` and divide by ``T`` (the run's
    length in time), so with a fixed step they are plain means over steps. ``d_t`` is
    clipped to ≥ 1 in the relative accuracies so a zero demand (scale-to-zero) does not divide
    by zero: one replica is the smallest meaningful unit of supply.
    """
    d = _as_float(demand)
    s = _as_float(supply)
    if d.shape != s.shape:
        raise ValueError(f"elasticity: demand shape {d.shape} != supply shape {s.shape}")
    if d.shape[0] < 1:
        raise ValueError("elasticity: need at least one step")
    d_safe = np.maximum(d, 1.0)
    theta_u = 100.0 * np.mean(np.maximum(d - s, 0.0) / d_safe, axis=0)
    theta_o = 100.0 * np.mean(np.maximum(s - d, 0.0) / d_safe, axis=0)
    tau_u = 100.0 * np.mean(d > s, axis=0)
    tau_o = 100.0 * np.mean(s > d, axis=0)
    if d.shape[0] >= 2:
        ds = np.sign(np.diff(s, axis=0))
        dd = np.sign(np.diff(d, axis=0))
        instability = 100.0 * np.mean(np.minimum(np.abs(ds - dd), 1.0), axis=0)
        adaptations_s = np.count_nonzero(ds != 0, axis=0)
        adaptations_d = np.count_nonzero(dd != 0, axis=0)
    else:
        instability = np.zeros(d.shape[1:])
        adaptations_s = adaptations_d = np.zeros(d.shape[1:])
    duration_h = d.shape[0] * step_s / SECONDS_PER_HOUR
    jitter = (adaptations_s - adaptations_d) / duration_h
    return Elasticity(
        theta_u=np.asarray(theta_u, dtype=np.float64),
        theta_o=np.asarray(theta_o, dtype=np.float64),
        tau_u=np.asarray(tau_u, dtype=np.float64),
        tau_o=np.asarray(tau_o, dtype=np.float64),
        instability=np.asarray(instability, dtype=np.float64),
        jitter_per_hour=np.asarray(jitter, dtype=np.float64),
    )


# --------------------------------------------------------------------------------------------
# Statistics over seeds
# --------------------------------------------------------------------------------------------


def mean_ci95(values: np.ndarray | Sequence[float]) -> dict[str, float | None]:
    """Mean and the half-width of the two-sided 95 % Student-t confidence interval.

    ``ci95 = t_{0.975, n−1} · sd / √n`` with the sample standard deviation (ddof=1). With one
    value, or any non-finite value, the half-width is ``None`` (JSON null): no interval can be
    claimed. An all-NaN input gives ``{"mean": None, "ci95": None}``.
    """
    v = _as_float(values).reshape(-1)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return {"mean": None, "ci95": None}
    mean = float(finite.mean())
    if finite.size < 2 or finite.size != v.size:
        return {"mean": mean, "ci95": None}
    sd = float(finite.std(ddof=1))
    half = float(special.stdtrit(finite.size - 1, 0.975) * sd / np.sqrt(finite.size))
    return {"mean": mean, "ci95": half}
