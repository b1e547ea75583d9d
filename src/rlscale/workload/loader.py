"""Load any CSV request trace into a :class:`Trace`, rejecting bad input with file and line.

Format accepted (the shape of every file in ``shared/data/traces``): a header row, comma
separated (``sep`` to change it), optionally gzip-compressed (by ``.gz`` suffix).

* **Time.** A time column holding ISO-8601 timestamps *or* seconds (int/float). Auto-detected
  from :data:`TIME_COLUMN_NAMES` (first match wins); or pass ``time_column``. With no time
  column, pass ``interval_s`` and the rows are taken as consecutive intervals. With a time
  column, the grid step is ``interval_s`` if given, else the most common difference between
  consecutive timestamps. Rows must be strictly increasing and sit on that grid; *missing*
  grid steps become gaps (``counts = 0``, ``valid = False``).
* **Value.** The count column is chosen by name: ``count_column``, or auto-detected when
  exactly one column is named like a count or a rate (:data:`COUNT_COLUMN_NAMES`, then any
  name containing one of :data:`VALUE_NAME_HINTS`); otherwise the error lists the candidates.
* **Count or rate.** ``kind="count"`` means requests per interval; ``kind="rate"`` means
  requests per second (QPS) sampled per row, stored as ``rate * interval_s``.
  ``kind="auto"`` (default) treats a column whose name contains ``qps``, ``rps`` or
  ``rate`` as a rate, anything else as a count. Negative values are rejected either way.
* **Gap flags.** A 0/1 column named in :data:`GAP_COLUMN_NAMES` (NASA ``server_down``,
  Twitter ``suspect_gap``) or given as ``gap_column`` marks rows as invalid (a gap);
  their recorded values are kept in ``counts`` (only the mask changes).

Line numbers in errors are 1-based and count the header as line 1, so the first data row
is line 2: what an editor shows.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from rlscale.workload.trace import MAX_GRID_STEPS, Trace, TraceError

#: Names tried, in order, for the time column (lower-cased comparison). ISO names first so
#: a file with both an absolute timestamp and a relative seconds column keeps wall-clock
#: time; ``timestamp_anon_s`` (Alibaba gateway, anonymised epoch) comes after the relative
#: ``seconds_from_start`` because its absolute value carries no meaning.
TIME_COLUMN_NAMES: tuple[str, ...] = (
    "timestamp",
    "time",
    "datetime",
    "date",
    "ts",
    "seconds_from_start",
    "seconds",
    "time_s",
    "elapsed_s",
    "timestamp_s",
    "timestamp_anon_s",
    "t",
)
#: Exact names accepted as the value column without asking (lower-cased comparison).
COUNT_COLUMN_NAMES: tuple[str, ...] = (
    "requests",
    "events",
    "count",
    "counts",
    "qps",
    "rps",
    "request_count",
    "requests_per_interval",
    "arrivals",
    "invocations",
)
#: Substrings that make a column a candidate value column when no exact name matches.
VALUE_NAME_HINTS: tuple[str, ...] = (
    "request",
    "event",
    "count",
    "qps",
    "rps",
    "rate",
    "arrival",
    "invocation",
)
#: Substrings that mark a value column as a rate (requests per second) under ``kind="auto"``.
RATE_NAME_HINTS: tuple[str, ...] = ("qps", "rps", "rate")
#: 0/1 columns auto-detected as gap flags (1 = no real data in this row).
GAP_COLUMN_NAMES: tuple[str, ...] = ("server_down", "suspect_gap", "gap", "missing", "invalid")

#: Tolerance, as a fraction of the grid step, for a timestamp to count as "on the grid".
_GRID_TOLERANCE = 0.01
_FIRST_DATA_LINE = 2  # header is line 1

Kind = Literal["auto", "count", "rate"]


def _err(path: str, line: int | None, problem: str) -> TraceError:
    where = f"{path}, line {line}" if line is not None else path
    return TraceError(f"{where}: {problem}")


def _read_text(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc})") from None


def _read_table(text: str, path: str, sep: str) -> pd.DataFrame:
    if not text.strip():
        raise _err(path, 1, "empty file: no header row and no data rows")
    header = text.splitlines()[0]
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        # pandas: "Error tokenizing data. C error: Expected 3 fields in line 5, saw 4"
        m = re.search(r"line (\d+), saw (\d+)", str(exc))
        if m:
            raise _err(
                path,
                int(m.group(1)),
                f"wrong number of fields ({m.group(2)}, header has {header.count(sep) + 1})",
            ) from None
        raise _err(path, None, f"not a valid CSV table ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.shape[1] == 1:
        for other, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if other != sep and other in header:
                raise _err(
                    path,
                    1,
                    f"wrong delimiter: the header {header.strip()!r} is a single column containing "
                    f"'{other}' ({label}); this file looks {label}-separated, expected {sep!r} "
                    f"(pass sep={other!r} to load it)",
                )
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise _err(path, 1, f"duplicate column names {dupes}")
    if len(df) == 0:
        raise _err(path, _FIRST_DATA_LINE, "empty file: header only, no data rows")
    return df


def _find_column(
    df: pd.DataFrame, path: str, requested: str | None, names: Sequence[str], what: str
) -> str | None:
    cols = list(df.columns)
    if requested is not None:
        if requested not in cols:
            raise _err(path, 1, f"missing column: {what} column {requested!r} not in header {cols}")
        return requested
    lower = {c.lower(): c for c in cols}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _choose_value_column(df: pd.DataFrame, path: str, requested: str | None, exclude: set[str]) -> str:
    cols = [c for c in df.columns if c not in exclude]
    if requested is not None:
        if requested not in df.columns:
            raise _err(
                path, 1, f"missing column: count column {requested!r} not in header {list(df.columns)}"
            )
        return requested
    exact = [c for c in cols if c.lower() in COUNT_COLUMN_NAMES]
    if len(exact) == 1:
        return exact[0]
    hinted = exact or [c for c in cols if any(h in c.lower() for h in VALUE_NAME_HINTS)]
    if len(hinted) == 1:
        return hinted[0]
    if not hinted and len(cols) == 1:
        return cols[0]
    candidates = hinted or cols
    if not candidates:
        raise _err(path, 1, f"missing column: no count column in header {list(df.columns)}")
    raise _err(
        path,
        1,
        f"ambiguous count column: candidates {candidates}; pass count_column= one of them",
    )


def _stripped(df: pd.DataFrame, column: str, path: str, what: str) -> pd.Series:
    """The column's text, stripped; a missing or empty field is an error naming its line."""
    raw = df[column]
    if raw.isna().any():  # short row: pandas fills missing trailing fields with NaN
        line = int(np.flatnonzero(raw.isna().to_numpy())[0]) + _FIRST_DATA_LINE
        raise _err(path, line, f"empty value in {what} column {column!r} (missing field)")
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        line = int(np.flatnonzero(empty)[0]) + _FIRST_DATA_LINE
        raise _err(path, line, f"empty value in {what} column {column!r}")
    return text


def _numbers(df: pd.DataFrame, column: str, path: str, what: str) -> np.ndarray:
    text = _stripped(df, column, path, what)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        token = text.iloc[i]
        kind = "NaN" if token.lower() in {"nan", "na", "n/a", "null", "none"} else "not a finite number"
        raise _err(path, i + _FIRST_DATA_LINE, f"{kind} in {what} column {column!r}: {token!r}")
    return values


def _times(df: pd.DataFrame, column: str, path: str) -> tuple[np.ndarray, pd.Timestamp | None]:
    """Seconds since the first row, plus the first row's Timestamp (None for numeric time)."""
    text = _stripped(df, column, path, "time")
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        seconds = numeric.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(seconds)):
            i = int(np.flatnonzero(~np.isfinite(seconds))[0])
            raise _err(path, i + _FIRST_DATA_LINE, f"non-finite time value {text.iloc[i]!r} in {column!r}")
        return seconds, None
    if numeric.notna().any() and numeric.notna().sum() > len(text) // 2:
        i = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        raise _err(
            path,
            i + _FIRST_DATA_LINE,
            f"unparseable time value {text.iloc[i]!r} in {column!r} (expected seconds)",
        )
    try:
        stamps = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        # find the first offending row for the message
        for i, tok in enumerate(text):
            try:
                pd.to_datetime(tok, format="ISO8601")
            except (ValueError, TypeError):
                raise _err(
                    path,
                    i + _FIRST_DATA_LINE,
                    f"unparseable timestamp {tok!r} in {column!r} (expected ISO 8601 or seconds)",
                ) from None
        raise _err(path, None, f"timestamps in {column!r} mix time zones or formats") from None
    if stamps.dtype == object:  # mixed offsets come back as objects
        raise _err(path, None, f"timestamps in {column!r} mix time zones; use one UTC offset throughout")
    nat = stamps.isna().to_numpy()
    if nat.any():
        i = int(np.flatnonzero(nat)[0])
        raise _err(path, i + _FIRST_DATA_LINE, f"unparseable timestamp {text.iloc[i]!r} in {column!r}")
    first = stamps.iloc[0]
    seconds = (stamps - first).dt.total_seconds().to_numpy(dtype=np.float64)
    return seconds, pd.Timestamp(first)


def _grid(seconds: np.ndarray, interval_s: float | None, path: str) -> tuple[np.ndarray, float]:
    """Validate order and map each row to an index on a regular grid."""
    diffs = np.diff(seconds)
    nonpos = np.flatnonzero(diffs <= 0)
    if nonpos.size:
        i = int(nonpos[0]) + 1
        problem = (
            "duplicate timestamp"
            if diffs[i - 1] == 0
            else "timestamps not sorted (earlier than the row above)"
        )
        raise _err(path, i + _FIRST_DATA_LINE, problem)
    if interval_s is None:
        if diffs.size == 0:
            raise _err(path, None, "one row and no interval: pass interval_s= to set the step")
        vals, freq = np.unique(np.round(diffs, 6), return_counts=True)
        interval_s = float(vals[np.argmax(freq)])
    elif not (np.isfinite(interval_s) and interval_s > 0):
        raise TraceError(f"{path}: interval_s must be > 0, got {interval_s}")
    pos = seconds / interval_s
    idx = np.rint(pos).astype(np.int64)
    off = np.abs(pos - idx) > _GRID_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise _err(
            path,
            i + _FIRST_DATA_LINE,
            f"timestamp {seconds[i]:g} s after the first row is not on the {interval_s:g}-s grid; "
            "pass interval_s= to choose the step",
        )
    if idx[-1] - idx[0] >= MAX_GRID_STEPS:
        i = int(np.argmax(np.diff(idx))) + 1  # the row after the largest jump
        raise _err(
            path,
            i + _FIRST_DATA_LINE,
            f"the trace spans {seconds[-1] - seconds[0]:g} s = {idx[-1] - idx[0] + 1:,} steps of "
            f"{interval_s:g} s, more than {MAX_GRID_STEPS:,} (this row jumps "
            f"{seconds[i] - seconds[i - 1]:g} s after the one above)",
        )
    same = np.flatnonzero(np.diff(idx) == 0)
    if same.size:
        raise _err(
            path,
            int(same[0]) + 1 + _FIRST_DATA_LINE,
            f"two rows fall in the same {interval_s:g}-s interval; pass a smaller interval_s=",
        )
    return idx, interval_s


def load_trace(
    path: str | Path,
    *,
    time_column: str | None = None,
    count_column: str | None = None,
    interval_s: float | None = None,
    name: str | None = None,
    kind: Kind = "auto",
    gap_column: str | None = None,
    sep: str = ",",
) -> Trace:
    """Read a CSV request trace (see the module docstring for the accepted format).

    Args:
        path: CSV file, optionally ``.gz``.
        time_column: column with ISO timestamps or seconds; auto-detected if ``None``.
        count_column: column with the per-row count (or rate); auto-detected if ``None``.
        interval_s: grid step in seconds; required when the file has no time column,
            otherwise inferred as the most common timestamp difference.
        name: label for the trace (default: the file name without extensions).
        kind: ``"count"`` (requests per row interval), ``"rate"`` (requests per second)
            or ``"auto"`` (rate iff the column name contains qps/rps/rate).
        gap_column: 0/1 column marking rows without real data; auto-detected if ``None``.
        sep: field delimiter.

    Raises:
        TraceError: naming the file, the 1-based line (header = line 1) and the problem.
    """
    p = Path(path)
    spath = str(p)
    df = _read_table(_read_text(p), spath, sep)

    tcol = _find_column(df, spath, time_column, TIME_COLUMN_NAMES, "time")
    gcol = _find_column(df, spath, gap_column, GAP_COLUMN_NAMES, "gap")
    exclude = {c for c in (tcol, gcol) if c is not None}
    # other time-like columns (e.g. a second clock, an interval index) are never values
    exclude |= {c for c in df.columns if c.lower() in TIME_COLUMN_NAMES or c.lower() == "interval_index"}
    vcol = _choose_value_column(df, spath, count_column, exclude)

    values = _numbers(df, vcol, spath, "count")
    neg = np.flatnonzero(values < 0)
    if neg.size:
        i = int(neg[0])
        raise _err(spath, i + _FIRST_DATA_LINE, f"negative count {values[i]:g} in column {vcol!r}")

    if kind == "auto":
        kind = "rate" if any(h in vcol.lower() for h in RATE_NAME_HINTS) else "count"
    if kind not in ("count", "rate"):
        raise TraceError(f"{spath}: kind must be 'auto', 'count' or 'rate', got {kind!r}")

    flags = np.zeros(len(df), dtype=bool)
    if gcol is not None:
        gap_values = _numbers(df, gcol, spath, "gap")
        bad = np.flatnonzero((gap_values != 0) & (gap_values != 1))
        if bad.size:
            i = int(bad[0])
            raise _err(
                spath, i + _FIRST_DATA_LINE, f"gap column {gcol!r} must be 0 or 1, got {gap_values[i]:g}"
            )
        flags = gap_values == 1

    start_time: pd.Timestamp | None = None
    start_offset_s = 0.0
    if tcol is None:
        if interval_s is None:
            raise _err(
                spath,
                1,
                f"missing column: no time column (looked for {list(TIME_COLUMN_NAMES)}) in header "
                f"{list(df.columns)}; pass time_column= or a fixed interval_s=",
            )
        if not (np.isfinite(interval_s) and interval_s > 0):
            raise TraceError(f"{spath}: interval_s must be > 0, got {interval_s}")
        idx = np.arange(len(df), dtype=np.int64)
        step = float(interval_s)
    else:
        seconds, start_time = _times(df, tcol, spath)
        if start_time is None:
            start_offset_s = float(seconds[0])
            seconds = seconds - seconds[0]
        idx, step = _grid(seconds, interval_s, spath)

    n = int(idx[-1]) + 1
    counts = np.zeros(n, dtype=np.float64)
    valid = np.zeros(n, dtype=bool)
    row_counts = values * step if kind == "rate" else values
    counts[idx] = row_counts  # flagged rows keep their recorded value; only the mask marks them
    valid[idx] = ~flags
    label = name if name is not None else p.name.split(".")[0]
    return Trace(
        name=label,
        interval_s=step,
        counts=counts,
        start_time=start_time,
        source=spath,
        valid=valid,
        start_offset_s=start_offset_s,
    )
