"""The one in-memory form of a workload: request counts on a regular time grid.

Every loader, generator and transform in :mod:`rlscale.workload` produces or consumes a
:class:`Trace`, so the simulator and the evaluation harness see one shape whatever the
source (a CSV, the bundled NASA trace, a synthetic generator).

Gaps. A trace is always a *regular* grid of ``interval_s`` steps. Steps for which no real
data exists carry ``counts == 0`` and ``valid == False``: rows missing from a timestamped
file (the NASA 3.5-day hole, Alibaba gateway ticks that were not sampled), rows the file
flags itself (NASA ``server_down``, Twitter ``suspect_gap``). Windows never span an
invalid step (see :func:`rlscale.workload.windows`), so a policy is never trained or scored
on load that is an artefact of missing data; :func:`rlscale.workload.fill_gaps` can bridge
short gaps by interpolation when a caller prefers that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Most grid steps a trace may span, gaps included, as loaded or resampled: 10^7 steps are 4.75
#: years at 15 s, or 116 days at 1 s, and 90 MB of counts and flags. (One timestamp of 1e12 s
#: asked for 1.46 TiB.) The bundled traces have at most 126,604 steps.
MAX_GRID_STEPS = 10_000_000


class TraceError(ValueError):
    """A trace file or trace argument is malformed; the message names file, line and problem."""


@dataclass(frozen=True, eq=False)  # arrays inside: identity equality, hashable
class Trace:
    """Requests per fixed interval, with a validity mask for gaps.

    Attributes:
        name: short label (``"nasa"``, ``"synthetic:spike?seed=3"``, a file stem).
        interval_s: the fixed step of the series, seconds.
        counts: requests in each interval, float64, ``>= 0`` (float so resampled and
            rate-derived traces need no rounding).
        start_time: wall-clock time of the first interval's start, or ``None`` when the
            source records only relative time (Twitter, synthetic traces).
        source: the CSV path, ``"bundled:nasa"`` or the synthetic spec it came from.
        valid: boolean mask, ``False`` where the step is a gap (no real data); defaults
            to all ``True``.
        start_offset_s: seconds from the source's time origin to the first interval
            (non-zero after :func:`split` or for files whose seconds column does not
            start at 0); lets a test half report where it sits in the original trace.
    """

    name: str
    interval_s: float
    counts: np.ndarray
    start_time: pd.Timestamp | None = None
    source: str = ""
    valid: np.ndarray = field(default=None)  # type: ignore[assignment]
    start_offset_s: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.interval_s) and self.interval_s > 0):
            raise TraceError(
                f"trace {self.name!r}: interval_s must be a positive number, got {self.interval_s}"
            )
        counts = np.asarray(self.counts, dtype=np.float64).reshape(-1)
        if counts.size and (not np.all(np.isfinite(counts)) or counts.min() < 0):
            raise TraceError(f"trace {self.name!r}: counts must be finite and >= 0")
        if self.valid is None:
            valid = np.ones(counts.shape, dtype=bool)
        else:
            valid = np.asarray(self.valid, dtype=bool).reshape(-1)
            if valid.shape != counts.shape:
                raise TraceError(
                    f"trace {self.name!r}: valid mask has {valid.size} entries but counts has {counts.size}"
                )
        counts = counts.copy()
        valid = valid.copy()
        counts.flags.writeable = False
        valid.flags.writeable = False
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "interval_s", float(self.interval_s))

    def __len__(self) -> int:
        return int(self.counts.size)

    @property
    def rate_rps(self) -> np.ndarray:
        """Mean arrival rate in each interval, requests per second (``counts / interval_s``)."""
        return self.counts / self.interval_s

    @property
    def duration_s(self) -> float:
        """Length of the series in seconds (gaps included)."""
        return len(self) * self.interval_s

    @property
    def time_s(self) -> np.ndarray:
        """Start of each interval in seconds from the first interval."""
        return np.arange(len(self), dtype=np.float64) * self.interval_s

    @property
    def total_requests(self) -> float:
        """Sum of counts over the whole trace."""
        return float(self.counts.sum())

    def timestamps(self) -> pd.DatetimeIndex | None:
        """Start time of each interval, or ``None`` when the trace has no absolute time."""
        if self.start_time is None:
            return None
        return self.start_time + pd.to_timedelta(self.time_s, unit="s")

    def with_counts(self, counts: np.ndarray, *, name: str | None = None) -> Trace:
        """Same grid and mask with new counts (e.g. after rescaling)."""
        return Trace(
            name=self.name if name is None else name,
            interval_s=self.interval_s,
            counts=counts,
            start_time=self.start_time,
            source=self.source,
            valid=self.valid,
            start_offset_s=self.start_offset_s,
        )

    def slice(self, start: int, stop: int) -> Trace:
        """Steps ``[start, stop)`` as a new trace, keeping absolute time consistent."""
        start, stop, _ = slice(start, stop).indices(len(self))
        return Trace(
            name=self.name,
            interval_s=self.interval_s,
            counts=self.counts[start:stop],
            start_time=None
            if self.start_time is None
            else self.start_time + pd.Timedelta(seconds=start * self.interval_s),
            source=self.source,
            valid=self.valid[start:stop],
            start_offset_s=self.start_offset_s + start * self.interval_s,
        )
