"""Readers of the measured app2scale data (seed 001), as DataFrames with named units, and a
time-ordered train/test split. The ``teastore`` model is fitted on them
(:mod:`rlscale.calibration.teastore_fit`) and the offline vertical env replays them.

Measured data (``/work/shared/data/app2scale``, see its README):

- ``gsa_data.log``: 21,168 rows of a 120 s random walk over replicas 1–9 × CPU limit 100–900 m
  × JVM heap 100–900 MB at a constant offered load. Throughput there is HAProxy's session
  rate (not requests), so it is used for what it measures well: memory vs heap and the
  throughput loss at small heaps (GC pressure). Rows measured right after a CPU or heap
  change contain pods that were still restarting (rolling update); they are flagged.
- ``agent_offline_v2_data.csv`` and ``agent_v4_constant_heap_{1,2}.csv``: 9,614 Locust runs
  (replicas 1–3, CPU 400–900 m, heap 400–900 MB, 24–448 offered req/s), each measured for
  15 s after 600 s of warm-up. Throughput ``num_request`` (req/s) against the offered
  ``expected_tps``, mean ``response_time`` (ms). These drive capacity and latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Where the measured data lives in the shared checkout (override with a path argument).
DEFAULT_DATA_DIR = Path("/work/shared/data/app2scale")
GSA_FILE = "gsa_data.log"
LOCUST_FILES: tuple[str, ...] = (
    "agent_offline_v2_data.csv",
    "agent_v4_constant_heap_1.csv",
    "agent_v4_constant_heap_2.csv",
)

#: Columns each file must have (names as written in the files; gsa repeats names and pandas
#: renames the repeats ``cpu.1``, ``re.1``, ...: data/app2scale/README.md).
GSA_COLUMNS: tuple[str, ...] = ("re", "heap", "cpu", "curr_sess", "cpu.1", "ram", "actionstate")
LOCUST_COLUMNS: tuple[str, ...] = (
    "replica",
    "cpu",
    "heap",
    "cpu_usage",
    "memory_usage",
    "response_time",
    "num_request",
    "expected_tps",
    "timestamp",
)

#: gsa action codes that change the pod template and so roll every pod (README: 3/4 ±cpu,
#: 5/6 ±heap).
ROLLING_ACTIONS: frozenset[int] = frozenset({3, 4, 5, 6})


def _require(frame: Any, columns: Sequence[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected at least {list(columns)}")


def load_gsa(path: str | Path | None = None) -> Any:
    """``gsa_data.log`` as a DataFrame with named units: replicas, heap_mb, cpu_limit_cores,
    session_rate, cpu_usage_cores, memory_gb, action, rolling (measured right after a CPU or
    heap change) and row (time order). Rows with a NaN in the used columns are dropped."""
    import pandas as pd

    p = Path(path) if path is not None else DEFAULT_DATA_DIR / GSA_FILE
    if not p.exists():
        raise ValueError(f"{p}: data file does not exist")
    raw = pd.read_csv(p, sep=r"\s+")
    _require(raw, GSA_COLUMNS, p)
    action = pd.to_numeric(raw["actionstate"].astype(str).str.split("-").str[-1], errors="coerce")
    prev = action.shift(1)
    out = pd.DataFrame(
        {
            "replicas": pd.to_numeric(raw["re"], errors="coerce"),
            "heap_mb": pd.to_numeric(raw["heap"], errors="coerce"),
            "cpu_limit_cores": pd.to_numeric(raw["cpu"], errors="coerce") / 1000.0,
            "session_rate": pd.to_numeric(raw["curr_sess"], errors="coerce"),
            "cpu_usage_cores": pd.to_numeric(raw["cpu.1"], errors="coerce"),
            "memory_gb": pd.to_numeric(raw["ram"], errors="coerce"),
            "action": action,
            "rolling": prev.isin(list(ROLLING_ACTIONS)),
            "row": np.arange(len(raw)),
        }
    )
    return out.dropna(
        subset=["replicas", "heap_mb", "cpu_limit_cores", "session_rate", "memory_gb"]
    ).reset_index(drop=True)


def load_locust(paths: Sequence[str | Path] | None = None) -> Any:
    """The Locust runs (``agent_offline_v2_data.csv`` format) as one DataFrame: replicas,
    cpu_limit_cores, heap_mb, offered_rps, throughput_rps, latency_mean_s, cpu_usage_cores,
    memory_gib, timestamp_s, source. Rows with missing metrics (``cpu_usage == 0``, the
    app2scale env drops them too) or no offered load are dropped."""
    import pandas as pd

    files = [Path(p) for p in paths] if paths is not None else [DEFAULT_DATA_DIR / f for f in LOCUST_FILES]
    frames = []
    for p in files:
        if not p.exists():
            raise ValueError(f"{p}: data file does not exist")
        raw = pd.read_csv(p)
        _require(raw, LOCUST_COLUMNS, p)
        frame = pd.DataFrame(
            {
                "replicas": pd.to_numeric(raw["replica"], errors="coerce"),
                "cpu_limit_cores": pd.to_numeric(raw["cpu"], errors="coerce") / 10.0,
                "heap_mb": pd.to_numeric(raw["heap"], errors="coerce") * 100.0,
                "offered_rps": pd.to_numeric(raw["expected_tps"], errors="coerce"),
                "throughput_rps": pd.to_numeric(raw["num_request"], errors="coerce"),
                "latency_mean_s": pd.to_numeric(raw["response_time"], errors="coerce") / 1000.0,
                "cpu_usage_cores": pd.to_numeric(raw["cpu_usage"], errors="coerce"),
                "memory_gib": pd.to_numeric(raw["memory_usage"], errors="coerce"),
                "timestamp_s": pd.to_numeric(raw["timestamp"], errors="coerce"),
                "source": p.name,
            }
        )
        frame = frame.dropna(
            subset=["replicas", "cpu_limit_cores", "heap_mb", "offered_rps", "throughput_rps"]
        )
        frame = frame[(frame["cpu_usage_cores"] > 0) & (frame["offered_rps"] > 0)]
        frames.append(frame)
    if not frames:
        raise ValueError("load_locust: no data files given")
    return pd.concat(frames, ignore_index=True)


def time_split(
    frame: Any, holdout_fraction: float = 0.2, order: str = "row", by: str | None = None
) -> tuple[Any, Any]:
    """(train, test): the last ``holdout_fraction`` of the rows in time order (per ``by`` group)."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    groups = [frame] if by is None else [g for _, g in frame.groupby(by, sort=False)]
    train, test = [], []
    for g in groups:
        g = g.sort_values(order)
        cut = round(len(g) * (1.0 - holdout_fraction))
        train.append(g.iloc[:cut])
        test.append(g.iloc[cut:])
    import pandas as pd

    return pd.concat(train), pd.concat(test)
