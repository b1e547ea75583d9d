"""Turn ``--trace`` arguments into the windows the runner simulates (issue 3 item 4).

* Without ``windows``: the trace is evaluated whole, resampled to the service's step and
  rescaled so its peak is ``peak_fraction`` of the fleet's capacity (DESIGN.md §3). Gap steps
  (missing data, outages) still run through the simulator but are masked out of every metric.
* With ``windows=N``: N gap-free windows of ``window_hours`` from the trace's *test* part, at
  starts drawn with a fixed seed, so reruns and other policies see the same windows. Named and
  synthetic traces use :func:`rlscale.workload.registry.standard_split`; a CSV path has no
  standard split, so its last :data:`PATH_TEST_FRACTION` is the test part.

The rescale factor is computed on the whole trace (train and test parts), never on the test
windows alone: the windows keep their real size relative to the rest of the trace, and
nothing about the test part is used to shape the service.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from rlscale.evaluation.runner import EvalTrace
from rlscale.sim.params import ServiceParams
from rlscale.workload.registry import NAMED_TRACES, get_trace, standard_split
from rlscale.workload.trace import Trace, TraceError
from rlscale.workload.transform import DEFAULT_PEAK_FRACTION, rescale_factor, split, window_starts

#: Test part of a CSV path given with --windows: its last quarter (the named traces use
#: their documented splits instead).
PATH_TEST_FRACTION = 0.25
#: Seed of the window-start draw, fixed so every run evaluates the same windows.
WINDOW_SEED = 0
#: Lead-in of each chunk of a chunked trace (played, not scored): the state a scaler carries
#: is far shorter (the HPA's 300-s downscale stabilisation, KPA's 60-s stable window, the
#: learned policy's few-minute load history), so after an hour a chunk's policies act as in
#: the unbroken run.
CHUNK_LEAD_HOURS = 1.0


def _is_named(name: str) -> bool:
    return name in NAMED_TRACES or name.startswith("synthetic:")


#: File names a --trace DIR picks up (one service each).
FLEET_PATTERNS = ("*.csv", "*.csv.gz")
#: A service's own preset beside its CSV: ``NAME.csv`` → ``NAME.service.json`` (the format of
#: ``--service FILE``, written by ``rlscale.sim.presets.save_service``).
SIDECAR_SUFFIX = ".service.json"


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_trace_arguments(args: list[str]) -> list[str]:
    """``--trace`` values with every directory and glob replaced by its CSV files, sorted (a
    fleet: one service per file); named traces and plain paths pass through. A directory or
    glob that matches no CSV is an error naming it."""
    out: list[str] = []
    for arg in args:
        if _is_named(arg):
            out.append(arg)
            continue
        path = Path(arg)
        if path.is_dir():
            found = sorted({str(f) for pattern in FLEET_PATTERNS for f in path.glob(pattern) if f.is_file()})
            if not found:
                raise TraceError(f"--trace {arg}: the directory has no {' or '.join(FLEET_PATTERNS)} file")
            out += found
        elif _is_glob(arg) and not path.exists():
            found = sorted(f for f in glob.glob(arg) if Path(f).is_file())
            if not found:
                raise TraceError(f"--trace {arg}: the pattern matches no file")
            out += found
        else:
            out.append(arg)
    return out


def sidecar_path(trace: str) -> Path | None:
    """``NAME.service.json`` beside the CSV ``trace`` when it exists (None for named traces)."""
    if _is_named(trace):
        return None
    path = Path(trace)
    stem = path.name.removesuffix(".gz").removesuffix(".csv")
    sidecar = path.with_name(stem + SIDECAR_SUFFIX)
    return sidecar if sidecar.is_file() else None


def check_trace_argument(name: str) -> None:
    """Fail fast (before any simulation) on a trace that cannot be loaded: a path that does
    not exist, an unknown name."""
    if _is_named(name):
        return
    if not Path(name).exists():
        raise TraceError(
            f"trace {name!r}: no such file, and not a named trace {sorted(NAMED_TRACES)} or 'synthetic:<kind>'"
        )


def _load(name: str, step_s: float, column: str | None) -> Trace:
    kwargs = {} if column is None or _is_named(name) else {"count_column": column}
    if column is not None and _is_named(name):
        raise TraceError(f"--column applies to CSV paths; trace {name!r} is named and has fixed columns")
    return get_trace(name, step_s=step_s, **kwargs)


def chunk_trace(trace: EvalTrace, chunk_steps: int, lead_steps: int, step_s: float) -> EvalTrace:
    """One long window as ``ceil(T / chunk_steps)`` windows that run side by side in one
    batch: chunk ``c`` plays steps ``[c·L − lead, (c+1)·L)`` and scores ``[c·L, (c+1)·L)``
    (the first chunk's lead-in and the last chunk's tail are the edge rates, never scored).
    Every step is scored exactly once; the lead-in lets each chunk's scalers build the
    history they would have had (:data:`CHUNK_LEAD_HOURS`)."""
    if trace.windows != 1:
        raise ValueError(f"trace {trace.name!r}: only a whole trace (one window) can be chunked")
    if chunk_steps < 1 or lead_steps < 0:
        raise ValueError(f"chunk_steps must be >= 1 and lead_steps >= 0, got {chunk_steps}, {lead_steps}")
    rates, valid = trace.rates_rps[0], trace.valid[0]
    total = rates.size
    count = -(-total // chunk_steps)
    padded_len = lead_steps + count * chunk_steps
    padded = np.concatenate(
        [np.full(lead_steps, rates[0]), rates, np.full(padded_len - lead_steps - total, rates[-1])]
    )
    scored = np.zeros(padded_len, dtype=bool)
    scored[lead_steps : lead_steps + total] = valid
    starts = np.arange(count) * chunk_steps  # in padded coordinates: chunk c plays [start, start+lead+L)
    idx = starts[:, None] + np.arange(lead_steps + chunk_steps)[None, :]
    mask = scored[idx]
    mask[:, :lead_steps] = False
    return EvalTrace(
        name=trace.name,
        rates_rps=padded[idx],
        valid=mask,
        start_offsets_s=np.asarray(trace.start_offsets_s)[0] + (starts - lead_steps) * step_s,
    )


def prepare_trace(
    name: str,
    params: ServiceParams,
    *,
    column: str | None = None,
    windows: int | None = None,
    window_hours: float = 6.0,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
    chunk_hours: float | None = None,
) -> EvalTrace:
    """The rescaled rate windows of one ``--trace`` argument (a whole trace in chunks of
    ``chunk_hours`` run side by side when given, see :func:`chunk_trace`)."""
    check_trace_argument(name)
    step_s = params.step_s
    spec = params.spec
    capacity = float(np.mean(params.mu_rps))
    if windows is None:
        trace = _load(name, step_s, column)
        factor = rescale_factor(trace.rate_rps, capacity, spec.max_replicas, peak_fraction, valid=trace.valid)
        whole = EvalTrace(
            name=name,
            rates_rps=(trace.rate_rps * factor)[None, :],
            valid=trace.valid[None, :],
            start_offsets_s=np.array([trace.start_offset_s]),
        )
        if chunk_hours is None:
            return whole
        if not chunk_hours > 0:
            raise TraceError(f"--chunk-hours must be > 0, got {chunk_hours}")
        return chunk_trace(
            whole,
            max(1, round(chunk_hours * 3600.0 / step_s)),
            round(CHUNK_LEAD_HOURS * 3600.0 / step_s),
            step_s,
        )
    if windows < 1:
        raise TraceError(f"--windows must be >= 1, got {windows}")
    if not window_hours > 0:
        raise TraceError(f"--window-hours must be > 0, got {window_hours}")
    if _is_named(name):
        if column is not None:
            raise TraceError(f"--column applies to CSV paths; trace {name!r} is named and has fixed columns")
        train, test = standard_split(name, step_s=step_s)
    else:
        whole = _load(name, step_s, column)
        train, test = split(whole, test_fraction=PATH_TEST_FRACTION)
    all_rates = np.concatenate([train.rate_rps, test.rate_rps])
    all_valid = np.concatenate([train.valid, test.valid])
    factor = rescale_factor(all_rates, capacity, spec.max_replicas, peak_fraction, valid=all_valid)
    window_steps = round(window_hours * 3600.0 / step_s)
    if window_steps < 2:
        raise TraceError(f"--window-hours {window_hours} is shorter than two {step_s:g}-s steps")
    starts = window_starts(test, window_steps, count=windows, rng=WINDOW_SEED)
    rates = np.stack([test.rate_rps[s : s + window_steps] for s in starts]) * factor
    return EvalTrace(
        name=name,
        rates_rps=rates,
        valid=np.ones(rates.shape, dtype=bool),
        start_offsets_s=test.start_offset_s + starts * step_s,
    )
