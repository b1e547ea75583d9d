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


def _is_named(name: str) -> bool:
    return name in NAMED_TRACES or name.startswith("synthetic:")


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


def prepare_trace(
    name: str,
    params: ServiceParams,
    *,
    column: str | None = None,
    windows: int | None = None,
    window_hours: float = 6.0,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
) -> EvalTrace:
    """The rescaled rate windows of one ``--trace`` argument."""
    check_trace_argument(name)
    step_s = params.step_s
    spec = params.spec
    capacity = float(np.mean(params.mu_rps))
    if windows is None:
        trace = _load(name, step_s, column)
        factor = rescale_factor(trace.rate_rps, capacity, spec.max_replicas, peak_fraction, valid=trace.valid)
        return EvalTrace(
            name=name,
            rates_rps=(trace.rate_rps * factor)[None, :],
            valid=trace.valid[None, :],
            start_offsets_s=np.array([trace.start_offset_s]),
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
