"""Shape a trace for the simulator: resample to its step, rescale to the service, cut
windows, split train/test by time, and (optionally) bridge gaps.

Conventions kept by every function here:

* Counts are conserved by resampling (up to float rounding), so a trace's total number of
  requests does not depend on the simulator step.
* A step is valid only if all the source data it covers is valid; windows never contain an
  invalid step, so no training or test window straddles a hole in the data.
* Splits are by time, never by shuffling: every test step lies after every training step.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from rlscale.core.seeding import make_rng
from rlscale.workload.trace import MAX_GRID_STEPS, Trace, TraceError

#: Simulator step used across rlscale (DESIGN.md §3; the HPA's default sync period is 15 s,
#: kube-controller-manager ``--horizontal-pod-autoscaler-sync-period``).
DEFAULT_STEP_S = 15.0

#: Default fraction of ``max_replicas`` capacity the trace peak is scaled to. 0.8 leaves the
#: 20 % headroom an HPA targeting ~80 % utilisation needs at the peak, so a perfect scaler
#: can meet the SLO everywhere while the trace still sweeps most of the replica range.
DEFAULT_PEAK_FRACTION = 0.8

_RATIO_EPS = 1e-9


def _integer_ratio(a: float, b: float) -> int | None:
    r = a / b
    k = round(r)
    return k if k >= 1 and abs(r - k) < _RATIO_EPS * max(1.0, r) else None


def resample(
    trace: Trace,
    step_s: float = DEFAULT_STEP_S,
    *,
    method: Literal["even", "multinomial"] = "even",
    seed: int | np.random.Generator | None = 0,
) -> Trace:
    """Re-grid ``trace`` to ``step_s`` seconds, conserving the number of requests.

    * Down-sampling (``step_s`` a multiple of ``interval_s``) sums consecutive intervals.
    * Up-sampling spreads each interval's count over the finer steps: evenly by default
      (deterministic, fractional counts), or with ``method="multinomial"`` as a seeded
      multinomial split of each integer count (Poisson thinning conditioned on the total;
      exact integer counts, total conserved exactly).
    * Any other ratio interpolates the cumulative count linearly (even spreading).
    * A trailing remainder shorter than one new step is dropped (it would be a partial
      interval whose count is not comparable to the others).
    * A new step is valid only if every source interval overlapping it is valid.
    """
    if not (np.isfinite(step_s) and step_s > 0):
        raise TraceError(f"trace {trace.name!r}: step_s must be > 0, got {step_s}")
    n, dt = len(trace), trace.interval_s
    counts, valid = trace.counts, trace.valid
    if n * dt / step_s > MAX_GRID_STEPS:
        raise TraceError(
            f"trace {trace.name!r}: {n:,} steps of {dt:g} s are {n * dt / step_s:,.0f} steps of {step_s:g} s, "
            f"more than {MAX_GRID_STEPS:,}"
        )
    if method not in ("even", "multinomial"):
        raise TraceError(f"resample: method must be 'even' or 'multinomial', got {method!r}")
    down = _integer_ratio(step_s, dt)
    up = _integer_ratio(dt, step_s)
    if method == "multinomial" and up is None:
        raise TraceError(
            f"resample: method='multinomial' needs interval_s ({dt:g}) to be a multiple of step_s ({step_s:g})"
        )
    if (down is not None and up is None) or down == 1:
        k = down
        m = n // k
        new_counts = counts[: m * k].reshape(m, k).sum(axis=1)
        new_valid = valid[: m * k].reshape(m, k).all(axis=1)
    elif up is not None:
        k = up
        if method == "multinomial":
            whole = np.rint(counts)
            if not np.allclose(whole, counts, atol=1e-9):
                raise TraceError(
                    f"resample: method='multinomial' needs integer counts; trace {trace.name!r} has fractions"
                )
            rng = make_rng(seed)
            new_counts = (
                rng.multinomial(whole.astype(np.int64), np.full(k, 1.0 / k)).astype(np.float64).reshape(-1)
            )
        else:
            new_counts = np.repeat(counts / k, k)
        new_valid = np.repeat(valid, k)
    else:
        m = int(np.floor(n * dt / step_s + _RATIO_EPS))
        old_edges = np.arange(n + 1) * dt
        new_edges = np.arange(m + 1) * step_s
        cum = np.concatenate([[0.0], np.cumsum(counts)])
        new_counts = np.maximum(np.diff(np.interp(new_edges, old_edges, cum)), 0.0)
        bad = np.concatenate([[0.0], np.cumsum(~valid)])
        new_valid = np.diff(np.interp(new_edges, old_edges, bad)) < 1e-9
    return Trace(
        name=trace.name,
        interval_s=float(step_s),
        counts=new_counts,
        start_time=trace.start_time,
        source=trace.source,
        valid=new_valid,
        start_offset_s=trace.start_offset_s,
    )


def _peak(rate_rps: np.ndarray, valid: np.ndarray | None, peak_quantile: float) -> float:
    if not 0.0 < peak_quantile <= 1.0:
        raise TraceError(f"rescale: peak_quantile must be in (0, 1], got {peak_quantile}")
    r = np.asarray(rate_rps, dtype=np.float64)
    if valid is not None:
        r = r[np.asarray(valid, dtype=bool)]
    if r.size == 0 or not np.all(np.isfinite(r)):
        raise TraceError("rescale: rates must be a non-empty array of finite numbers")
    peak = float(np.max(r)) if peak_quantile == 1.0 else float(np.quantile(r, peak_quantile))
    if peak <= 0:
        raise TraceError("rescale: the trace peak is 0 (an all-zero trace cannot be scaled to a service)")
    return peak


def rescale_factor(
    rate_rps: np.ndarray,
    pod_capacity_rps: float,
    max_replicas: int,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
    peak_quantile: float = 1.0,
    *,
    valid: np.ndarray | None = None,
) -> float:
    """The multiplier :func:`rescale` applies: target peak / trace peak."""
    if pod_capacity_rps <= 0 or max_replicas < 1 or peak_fraction <= 0:
        raise TraceError(
            f"rescale: need pod_capacity_rps > 0, max_replicas >= 1, peak_fraction > 0 "
            f"(got {pod_capacity_rps}, {max_replicas}, {peak_fraction})"
        )
    target = peak_fraction * max_replicas * pod_capacity_rps
    return target / _peak(rate_rps, valid, peak_quantile)


def rescale(
    rate_rps: np.ndarray,
    pod_capacity_rps: float,
    max_replicas: int,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
    peak_quantile: float = 1.0,
    *,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Scale a rate series so its peak is ``peak_fraction`` of the fleet's capacity.

    By default (``peak_fraction=0.8``, ``peak_quantile=1.0``) the trace maximum becomes
    ``0.8 * max_replicas * pod_capacity_rps`` req/s: one policy can then be evaluated on
    traces of any absolute size (DESIGN.md §3). For spiky traces (Alibaba LoRA: peak/mean 79)
    pass e.g. ``peak_quantile=0.99`` so the 99th percentile maps to ``peak_fraction`` and the
    rarer spikes exceed it (possibly beyond ``max_replicas`` capacity, deliberately).
    ``valid`` restricts the peak to valid steps (gaps do not set the scale).
    """
    factor = rescale_factor(
        rate_rps, pod_capacity_rps, max_replicas, peak_fraction, peak_quantile, valid=valid
    )
    return np.asarray(rate_rps, dtype=np.float64) * factor


def rescale_trace(
    trace: Trace,
    pod_capacity_rps: float,
    max_replicas: int,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
    peak_quantile: float = 1.0,
) -> Trace:
    """:func:`rescale` applied to a trace (peak taken over its valid steps), grid and mask kept."""
    factor = rescale_factor(
        trace.rate_rps, pod_capacity_rps, max_replicas, peak_fraction, peak_quantile, valid=trace.valid
    )
    return trace.with_counts(trace.counts * factor)


def _rates_and_mask(
    trace_or_rates: Trace | np.ndarray, valid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(trace_or_rates, Trace):
        rates = trace_or_rates.rate_rps
        mask = trace_or_rates.valid if valid is None else np.asarray(valid, dtype=bool)
    else:
        rates = np.asarray(trace_or_rates, dtype=np.float64).reshape(-1)
        mask = np.isfinite(rates) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(rates)
    if mask.shape != rates.shape:
        raise TraceError(f"windows: valid mask has {mask.size} entries for {rates.size} steps")
    return rates, mask


def window_starts(
    trace_or_rates: Trace | np.ndarray,
    window_steps: int,
    *,
    stride_steps: int | None = None,
    count: int | None = None,
    rng: int | np.random.Generator | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Start indices of the windows :func:`windows` returns (sorted, int64)."""
    rates, mask = _rates_and_mask(trace_or_rates, valid)
    n = rates.size
    if window_steps < 1:
        raise TraceError(f"windows: window_steps must be >= 1, got {window_steps}")
    if stride_steps is None:
        stride_steps = 1 if count is not None else window_steps
    if stride_steps < 1:
        raise TraceError(f"windows: stride_steps must be >= 1, got {stride_steps}")
    if window_steps > n:
        raise TraceError(f"windows: window of {window_steps} steps is longer than the series ({n} steps)")
    bad = np.concatenate([[0], np.cumsum(~mask)])
    starts = np.arange(0, n - window_steps + 1, stride_steps, dtype=np.int64)
    starts = starts[bad[starts + window_steps] == bad[starts]]
    if starts.size == 0:
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))))[::2]
        longest = int(runs.max()) if runs.size else 0
        raise TraceError(
            f"windows: no window of {window_steps} steps fits without crossing a gap "
            f"(longest gap-free run: {longest} steps)"
        )
    if count is not None:
        if count < 1:
            raise TraceError(f"windows: count must be >= 1, got {count}")
        if count > starts.size:
            raise TraceError(
                f"windows: asked for {count} windows but only {starts.size} distinct gap-free starts exist"
            )
        gen = make_rng(0 if rng is None else rng)
        starts = np.sort(gen.choice(starts, size=count, replace=False))
    return starts


def windows(
    trace_or_rates: Trace | np.ndarray,
    window_steps: int,
    *,
    stride_steps: int | None = None,
    count: int | None = None,
    rng: int | np.random.Generator | None = None,
    valid: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Cut rate windows (req/s, each ``window_steps`` long) that never contain an invalid step.

    * With ``count=None``: every window at ``stride_steps`` (default: non-overlapping,
      stride = window length) that is gap-free, in time order.
    * With ``count=k``: ``k`` distinct gap-free starts drawn without replacement from every
      ``stride_steps`` offset (default stride 1), seeded by ``rng`` (an int seed or a
      Generator; ``None`` means seed 0 so results repeat), returned in time order.

    A :class:`Trace` supplies its own ``valid`` mask; for a plain array, steps that are NaN
    or masked out by ``valid`` count as gaps. Raises :class:`TraceError` when no window fits.
    """
    rates, _ = _rates_and_mask(trace_or_rates, valid)
    starts = window_starts(
        trace_or_rates, window_steps, stride_steps=stride_steps, count=count, rng=rng, valid=valid
    )
    return [rates[s : s + window_steps].copy() for s in starts]


def split(
    trace: Trace,
    *,
    test_start: pd.Timestamp | str | float | None = None,
    test_fraction: float | None = None,
) -> tuple[Trace, Trace]:
    """Split by time into ``(train, test)``: train = steps before the cut, test = from it on.

    Give exactly one of:

    * ``test_start``: a timestamp (``pd.Timestamp`` or ISO string; a naive value is read in
      the trace's own time zone) for traces with absolute time, or a number of seconds
      from the trace's first step. The cut is the first step starting at or after it.
    * ``test_fraction``: the last ``round(n * test_fraction)`` steps are the test part.

    Both halves keep the validity mask; the test half's ``start_offset_s``/``start_time``
    say where it lies in the original trace. Raises if either half would be empty.
    """
    n = len(trace)
    if (test_start is None) == (test_fraction is None):
        raise TraceError("split: give exactly one of test_start= or test_fraction=")
    if test_fraction is not None:
        if not 0.0 < test_fraction < 1.0:
            raise TraceError(f"split: test_fraction must be in (0, 1), got {test_fraction}")
        cut = n - round(n * test_fraction)
    elif isinstance(test_start, int | float | np.integer | np.floating):
        cut = int(np.ceil(float(test_start) / trace.interval_s - _RATIO_EPS))
    else:
        if trace.start_time is None:
            raise TraceError(
                f"split: trace {trace.name!r} has no absolute time; give test_start in seconds or test_fraction"
            )
        ts = pd.Timestamp(test_start)
        tz = trace.start_time.tz
        if ts.tz is None and tz is not None:
            ts = ts.tz_localize(tz)
        elif ts.tz is not None and tz is None:
            raise TraceError(
                f"split: test_start {test_start!r} has a time zone but trace {trace.name!r} does not"
            )
        offset_s = (ts - trace.start_time).total_seconds()
        cut = int(np.ceil(offset_s / trace.interval_s - _RATIO_EPS))
    if not 0 < cut < n:
        raise TraceError(f"split: cut at step {cut} leaves an empty half (trace has {n} steps)")
    return trace.slice(0, cut), trace.slice(cut, n)


def fill_gaps(trace: Trace, *, max_gap_s: float | None = None) -> Trace:
    """Bridge interior gaps by linear interpolation between the valid steps either side.

    Only gaps no longer than ``max_gap_s`` (all interior gaps if ``None``) are filled and
    marked valid; gaps at either end stay invalid (nothing to interpolate from). Use it for
    short dropouts (Twitter's ~30-minute ``suspect_gap`` runs) when windows longer than the
    spacing between gaps are needed; the filled load is an estimate, not data.
    """
    mask = trace.valid
    counts = trace.counts.copy()
    valid = mask.copy()
    edges = np.diff(np.concatenate([[1], mask.astype(np.int8), [1]]))
    gap_starts = np.flatnonzero(edges == -1)
    gap_ends = np.flatnonzero(edges == 1)
    for s, e in zip(gap_starts, gap_ends, strict=True):
        if s == 0 or e == len(counts):
            continue
        if max_gap_s is not None and (e - s) * trace.interval_s > max_gap_s:
            continue
        left, right = counts[s - 1], counts[e]
        frac = np.arange(1, e - s + 1) / (e - s + 1)
        counts[s:e] = left + (right - left) * frac
        valid[s:e] = True
    return Trace(
        name=trace.name,
        interval_s=trace.interval_s,
        counts=counts,
        start_time=trace.start_time,
        source=trace.source,
        valid=valid,
        start_offset_s=trace.start_offset_s,
    )
