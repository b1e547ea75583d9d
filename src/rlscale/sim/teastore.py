"""The ``teastore`` service model, calibrated to the measured app2scale data (seed 001).

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

Model (every parameter fitted by :func:`fit_teastore`, the fitted values are the constants
below, reproduced by ``bench/calibration.py``):

- capacity of one pod: ``mu(cpu, heap) = max(cpu − idle, 0) / cpu_per_request · gc(heap)``:
  the CPU a pod may spend on requests over the CPU one request costs (DESIGN.md §3);
- GC pressure: ``gc(heap) = 1 / (1 + g · L / (heap − L))`` for heap > L, the classic
  garbage-collection cost model (GC work per allocated byte ∝ live / free heap); ``L`` is
  the JVM's live set: at or below it the JVM throws OutOfMemoryError and the pod dies;
- service capacity: ``min(replicas^beta · mu, backend)``: more webui replicas share the
  fixed TeaStore back-end services (auth, persistence, image: one replica each in the
  measured setup), so capacity grows sublinearly and saturates;
- throughput: ``min(offered, capacity)`` (a fluid server; Locust's timeouts drop the rest);
- latency (mean, unsaturated): ``base + k · W_mmc`` with ``W_mmc`` the Erlang-C mean wait of
  an M/M/c queue with ``c = replicas`` servers of rate ``capacity / replicas``;
- memory (working set per pod, GiB): ``m0 + m1 · ln(heap / 100 MB)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import erlang_c

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
#: Heaps at or above this are "large": the GC model is normalised to their mean.
LARGE_HEAP_MB = 500.0
#: Lower bound of the fitted replica exponent (0.3: a wide bound, the fit settles on it)
REPLICA_EXPONENT_MIN = 0.3
_LARGE_HEAPS = np.arange(500.0, 901.0, 100.0)
#: A Locust row whose throughput is below this fraction of the offered load is "saturated".
SATURATED_RATIO = 0.9
#: ... and above this fraction "unsaturated" (its latency is a queueing latency).
UNSATURATED_RATIO = 0.97


# ------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class TeaStoreModel:
    """The fitted TeaStore webui model (see module docstring). Units in the names."""

    cpu_per_request_core_s: float = 0.004482
    cpu_idle_cores: float = 0.1519
    replica_exponent: float = 0.3
    backend_capacity_rps: float = 225.7
    gc_coefficient: float = 0.3608
    live_heap_mb: float = 58.43
    base_latency_s: float = 0.02084
    wait_scale: float = 0.05192
    memory_base_gib: float = 0.6101
    memory_per_log_heap_gib: float = 0.08386

    def __post_init__(self) -> None:
        for f in fields(self):
            v = float(getattr(self, f.name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"TeaStoreModel: {f.name} must be finite and >= 0, got {v}")
        if self.cpu_per_request_core_s <= 0:
            raise ValueError("TeaStoreModel: cpu_per_request_core_s must be > 0")

    # ---------------------------------------------------------------- capacity
    def gc_factor(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """Fraction of a pod's capacity left after garbage collection (0 at or below the live set)."""
        h = np.asarray(heap_mb, dtype=np.float64)
        free = h - self.live_heap_mb
        with np.errstate(divide="ignore", invalid="ignore"):
            f = 1.0 / (1.0 + self.gc_coefficient * self.live_heap_mb / free)
        return np.where(free > 0, f, 0.0)

    def oom(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """True where the heap cannot hold the live set: the JVM dies (OutOfMemoryError)."""
        return np.asarray(heap_mb, dtype=np.float64) <= self.live_heap_mb

    def pod_capacity_rps(
        self, cpu_limit_cores: np.ndarray | float, heap_mb: np.ndarray | float
    ) -> np.ndarray:
        """Requests/s one ready pod sustains at its CPU limit and heap."""
        cpu = np.asarray(cpu_limit_cores, dtype=np.float64)
        return (
            np.maximum(cpu - self.cpu_idle_cores, 0.0) / self.cpu_per_request_core_s * self.gc_factor(heap_mb)
        )

    def service_capacity_rps(
        self, replicas: np.ndarray | float, cpu_limit_cores: np.ndarray | float, heap_mb: np.ndarray | float
    ) -> np.ndarray:
        """Requests/s ``replicas`` ready pods sustain together (sublinear, capped by the back-end)."""
        r = np.maximum(np.asarray(replicas, dtype=np.float64), 0.0)
        return np.minimum(
            r**self.replica_exponent * self.pod_capacity_rps(cpu_limit_cores, heap_mb),
            self.backend_capacity_rps,
        )

    def throughput_rps(
        self,
        offered_rps: np.ndarray | float,
        replicas: np.ndarray | float,
        cpu_limit_cores: np.ndarray | float,
        heap_mb: np.ndarray | float,
    ) -> np.ndarray:
        return np.minimum(
            np.asarray(offered_rps, dtype=np.float64),
            self.service_capacity_rps(replicas, cpu_limit_cores, heap_mb),
        )

    # ---------------------------------------------------------------- latency, memory
    def latency_mean_s(
        self,
        offered_rps: np.ndarray | float,
        replicas: np.ndarray | float,
        cpu_limit_cores: np.ndarray | float,
        heap_mb: np.ndarray | float,
    ) -> np.ndarray:
        """Mean response time below saturation (inf at or above it)."""
        lam = np.asarray(offered_rps, dtype=np.float64)
        r = np.maximum(np.asarray(replicas, dtype=np.float64), 1.0)
        cap = self.service_capacity_rps(r, cpu_limit_cores, heap_mb)
        lam, r, cap = np.broadcast_arrays(lam, r, cap)
        mu = np.divide(cap, r, out=np.zeros_like(cap), where=r > 0)
        a = np.divide(lam, mu, out=np.full_like(lam, np.inf), where=mu > 0)
        stable = a < r
        c_prob = erlang_c(r, np.where(stable, a, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(stable, c_prob / (r * mu - lam), np.inf)
        return self.base_latency_s + self.wait_scale * wait

    def memory_gib(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """Working-set memory of one pod (GiB) at this heap."""
        h = np.maximum(np.asarray(heap_mb, dtype=np.float64), 1.0)
        return self.memory_base_gib + self.memory_per_log_heap_gib * np.log(h / 100.0)

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> TeaStoreModel:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown TeaStoreModel field(s) {sorted(unknown)}")
        try:
            return cls(**{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


#: The calibrated model (values from ``fit_teastore`` on the training rows; see bench/calibration.py).
TEASTORE_MODEL = TeaStoreModel()
#: Default configuration of the ``teastore`` preset: the seed's middle CPU limit and the heap
#: the v4 runs held fixed (data/app2scale/README.md: heap = 7 → 700 MB).
TEASTORE_CPU_LIMIT_CORES = 0.6
TEASTORE_HEAP_MB = 700.0


def teastore_preset(
    model: TeaStoreModel = TEASTORE_MODEL,
    cpu_limit_cores: float = TEASTORE_CPU_LIMIT_CORES,
    heap_mb: float = TEASTORE_HEAP_MB,
) -> ServiceParams:
    """The ``teastore`` preset for the (horizontal) core simulator.

    The core simulator scales capacity linearly in replicas; the per-pod rate is the fitted
    one-pod capacity at ``cpu_limit_cores``/``heap_mb`` (the GC factor folded into the CPU cost
    per request). Sublinear back-end sharing is only in :mod:`rlscale.sim.vertical`.
    SLO 0.2 s (≈10× the unloaded 18–20 ms), 1–9 replicas (the seed's bounds), 15 s steps,
    start-up 30–60 s (JVM webapp; DESIGN.md §3 default), memory request = the modelled
    working set rounded up to 1 GiB, 30 s request timeout (OpenShift HAProxy default).
    """
    gc = float(model.gc_factor(heap_mb))
    if gc <= 0:
        raise ValueError(
            f"teastore_preset: heap {heap_mb} MB is at or below the live set {model.live_heap_mb} MB"
        )
    mu = float(model.pod_capacity_rps(cpu_limit_cores, heap_mb))
    if mu <= 0:
        raise ValueError(f"teastore_preset: CPU limit {cpu_limit_cores} cores leaves no capacity")
    spec = ServiceSpec(
        name="teastore",
        pod_capacity_rps=mu,
        slo_latency_s=0.2,
        min_replicas=1,
        max_replicas=9,
        step_s=15.0,
        startup_delay_s=45.0,
        cpu_request_cores=cpu_limit_cores,
        memory_request_gib=1.0,
    )
    # base latency: the fitted fixed part minus the M/M/1 service time the core sim adds
    base = max(model.base_latency_s - 1.0 / mu, 0.001)
    return ServiceParams(
        spec=spec,
        base_latency_s=base,
        startup_delay_min_s=30.0,
        startup_delay_max_s=60.0,
        cpu_per_request_core_s=model.cpu_per_request_core_s / gc,
        cpu_limit_cores=cpu_limit_cores,
        cpu_idle_cores=model.cpu_idle_cores,
        queue_bound_requests=1.0e6,
        request_timeout_s=30.0,
        metric_lag_steps=1,
        poisson_arrivals=True,
        latency_model="mmc",
        description=teastore_preset.__doc__ or "",
    )


# -------------------------------------------------------------------------------------- data
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


# ------------------------------------------------------------------------------------ fitting
def _fit_gc(gsa_train: Any) -> tuple[float, float]:
    """(g, live_heap_mb) from the CPU-bound gsa rows (400–500 m, no restart): session rate at
    each heap relative to the median over the large heaps (>= 500 MB, where GC costs ~nothing),
    per CPU limit."""
    from scipy.optimize import least_squares

    rows = gsa_train[(~gsa_train["rolling"]) & gsa_train["cpu_limit_cores"].between(0.35, 0.55)]
    rel_h, rel_y, weight = [], [], []
    for _, g in rows.groupby("cpu_limit_cores"):
        med = g.groupby("heap_mb")["session_rate"].median()
        ref = float(g[g["heap_mb"] >= LARGE_HEAP_MB]["session_rate"].median())
        if not ref > 0:
            continue
        counts = g.groupby("heap_mb").size()
        for h, v in med.items():
            rel_h.append(float(h))
            rel_y.append(float(v / ref))
            weight.append(math.sqrt(float(counts[h])))
    if len(rel_h) < 3:
        raise ValueError("fit: too few CPU-bound gsa rows to fit the GC model")
    h_arr, y_arr, w_arr = np.asarray(rel_h), np.asarray(rel_y), np.asarray(weight)

    def resid(x: np.ndarray) -> np.ndarray:
        m = TeaStoreModel(gc_coefficient=x[0], live_heap_mb=x[1])
        pred = m.gc_factor(h_arr) / m.gc_factor(_LARGE_HEAPS).mean()
        return w_arr * (pred - y_arr)

    sol = least_squares(resid, x0=[0.3, 60.0], bounds=([0.0, 1.0], [10.0, 99.0]), loss="soft_l1", f_scale=0.1)
    return float(sol.x[0]), float(sol.x[1])


def fit_teastore(gsa_train: Any, locust_train: Any) -> TeaStoreModel:
    """Fit every :class:`TeaStoreModel` parameter on training rows (robust least squares)."""
    from scipy.optimize import least_squares

    g_coef, live = _fit_gc(gsa_train)
    base = TeaStoreModel(gc_coefficient=g_coef, live_heap_mb=live)

    # capacity: per (replicas, CPU) cell, the median throughput of its saturated rows (what
    # the error is judged on), plus a hinge: capacity must not be below what unsaturated rows
    # served.
    sat = locust_train[locust_train["throughput_rps"] < SATURATED_RATIO * locust_train["offered_rps"]]
    cells = sat.groupby(["replicas", "cpu_limit_cores"]).agg(
        obs=("throughput_rps", "median"), heap=("heap_mb", "median"), rows=("throughput_rps", "size")
    )
    cells = cells[cells["rows"] >= 3]
    if len(cells) < 4:
        raise ValueError("fit: fewer than 4 saturated (replicas, CPU) configurations in the training rows")
    c_r = cells.index.get_level_values(0).to_numpy(float)
    c_cpu = cells.index.get_level_values(1).to_numpy(float)
    c_heap, c_obs = cells["heap"].to_numpy(float), cells["obs"].to_numpy(float)
    c_w = np.sqrt(cells["rows"].to_numpy(float))
    un_rows = locust_train[locust_train["throughput_rps"] >= UNSATURATED_RATIO * locust_train["offered_rps"]]
    u_r, u_cpu, u_heap, u_obs = (
        un_rows[k].to_numpy(float) for k in ("replicas", "cpu_limit_cores", "heap_mb", "throughput_rps")
    )

    def resid_cap(x: np.ndarray) -> np.ndarray:
        m = replace(
            base,
            cpu_per_request_core_s=x[0],
            cpu_idle_cores=x[1],
            replica_exponent=x[2],
            backend_capacity_rps=x[3],
        )
        cell = c_w * np.log(np.maximum(m.service_capacity_rps(c_r, c_cpu, c_heap), 1.0) / c_obs)
        hinge = np.minimum(np.log(np.maximum(m.service_capacity_rps(u_r, u_cpu, u_heap), 1.0) / u_obs), 0.0)
        return np.concatenate([cell, 0.3 * hinge])

    sol = least_squares(
        resid_cap,
        x0=[0.005, 0.1, 0.8, 300.0],
        bounds=([1e-4, 0.0, REPLICA_EXPONENT_MIN, 50.0], [0.05, 0.39, 1.0, 2000.0]),
        loss="soft_l1",
        f_scale=0.1,
    )
    model = replace(
        base,
        cpu_per_request_core_s=float(sol.x[0]),
        cpu_idle_cores=float(sol.x[1]),
        replica_exponent=float(sol.x[2]),
        backend_capacity_rps=float(sol.x[3]),
    )

    # latency: unsaturated rows, relative error
    un = locust_train[locust_train["throughput_rps"] >= UNSATURATED_RATIO * locust_train["offered_rps"]]
    un = un[np.isfinite(un["latency_mean_s"]) & (un["latency_mean_s"] > 0)]
    lr, lc, lh, lo = (
        un[k].to_numpy(float) for k in ("replicas", "cpu_limit_cores", "heap_mb", "offered_rps")
    )
    lat = un["latency_mean_s"].to_numpy(float)
    stable = np.isfinite(replace(model, wait_scale=1.0).latency_mean_s(lo, lr, lc, lh))
    lr, lc, lh, lo, lat = lr[stable], lc[stable], lh[stable], lo[stable], lat[stable]

    def resid_lat(x: np.ndarray) -> np.ndarray:
        m = replace(model, base_latency_s=x[0], wait_scale=x[1])
        return np.log(m.latency_mean_s(lo, lr, lc, lh) / lat)

    sol = least_squares(
        resid_lat, x0=[0.02, 0.1], bounds=([1e-4, 0.0], [1.0, 10.0]), loss="soft_l1", f_scale=0.1
    )
    model = replace(model, base_latency_s=float(sol.x[0]), wait_scale=float(sol.x[1]))

    # memory: working set vs ln(heap), on the Locust runs (the cluster capacity was fitted on)
    mh = locust_train["heap_mb"].to_numpy(float)
    mm = locust_train["memory_gib"].to_numpy(float)
    ok = np.isfinite(mm) & (mm > 0)
    slope, intercept = np.polyfit(np.log(mh[ok] / 100.0), mm[ok], 1)
    return replace(model, memory_base_gib=float(intercept), memory_per_log_heap_gib=float(max(slope, 0.0)))


def _ape(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(pred, float) - np.asarray(obs, float)) / np.abs(np.asarray(obs, float))


def fit_errors(model: TeaStoreModel, gsa_test: Any, locust_test: Any) -> dict[str, Any]:
    """Held-out errors (absolute relative errors) of ``model``:

    - ``throughput_saturation``: per (replicas, CPU) configuration with ≥ 3 saturated held-out
      rows, the model capacity vs the median measured throughput; also the per-row median;
    - ``latency``: per (replicas, CPU, offered) cell of unsaturated held-out rows, model mean
      latency vs the median measured one; also per row;
    - ``memory``: per held-out Locust row, modelled vs measured working set;
    - ``gc_relative_throughput``: gsa CPU-bound rows, the heap effect.
    """
    out: dict[str, Any] = {}
    sat = locust_test[locust_test["throughput_rps"] < SATURATED_RATIO * locust_test["offered_rps"]]
    cells = []
    for (rep, cpu), g in sat.groupby(["replicas", "cpu_limit_cores"]):
        if len(g) < 3:
            continue
        pred = float(model.service_capacity_rps(rep, cpu, float(g["heap_mb"].median())))
        obs = float(g["throughput_rps"].median())
        cells.append(
            {
                "replicas": int(rep),
                "cpu_limit_cores": float(cpu),
                "rows": len(g),
                "measured_rps": obs,
                "model_rps": pred,
                "error": abs(pred - obs) / obs,
            }
        )
    row_err = _ape(
        model.service_capacity_rps(sat["replicas"], sat["cpu_limit_cores"], sat["heap_mb"]),
        sat["throughput_rps"],
    )
    errs = np.asarray([c["error"] for c in cells])
    weights = np.asarray([c["rows"] for c in cells], float)
    out["throughput_saturation"] = {
        "configurations": len(cells),
        "median_error": float(np.median(errs)) if cells else math.nan,
        "row_weighted_error": float(np.dot(errs, weights) / weights.sum()) if cells else math.nan,
        "within_10pct": float(np.mean(errs <= 0.10)) if cells else math.nan,
        "row_median_error": float(np.median(row_err)) if len(row_err) else math.nan,
        "held_out_rows": len(sat),
        "cells": cells,
    }
    un = locust_test[locust_test["throughput_rps"] >= UNSATURATED_RATIO * locust_test["offered_rps"]]
    pred_un = model.latency_mean_s(un["offered_rps"], un["replicas"], un["cpu_limit_cores"], un["heap_mb"])
    un = un.assign(model_latency_s=pred_un)
    un = un[np.isfinite(un["model_latency_s"]) & (un["latency_mean_s"] > 0)]
    lcells = un.groupby(["replicas", "cpu_limit_cores", "offered_rps"]).agg(
        measured=("latency_mean_s", "median"),
        model=("model_latency_s", "median"),
        rows=("latency_mean_s", "size"),
    )
    lcells = lcells[lcells["rows"] >= 3]
    lerr = _ape(lcells["model"], lcells["measured"])
    out["latency"] = {
        "cells": len(lcells),
        "median_error": float(np.median(lerr)) if len(lerr) else math.nan,
        "within_20pct": float(np.mean(lerr <= 0.20)) if len(lerr) else math.nan,
        "row_median_error": float(np.median(_ape(un["model_latency_s"], un["latency_mean_s"])))
        if len(un)
        else math.nan,
        "held_out_rows": len(un),
    }
    mem = locust_test[locust_test["memory_gib"] > 0]
    merr = _ape(model.memory_gib(mem["heap_mb"]), mem["memory_gib"])
    out["memory"] = {"row_median_error": float(np.median(merr)), "held_out_rows": len(mem)}
    gsa_bound = gsa_test[(~gsa_test["rolling"]) & gsa_test["cpu_limit_cores"].between(0.35, 0.55)]
    rel = []
    for _, g in gsa_bound.groupby("cpu_limit_cores"):
        med = g.groupby("heap_mb")["session_rate"].median()
        ref = float(g[g["heap_mb"] >= LARGE_HEAP_MB]["session_rate"].median())
        if ref > 0:
            for h, v in med.items():
                rel.append((float(model.gc_factor(h) / model.gc_factor(_LARGE_HEAPS).mean()), float(v / ref)))
    if rel:
        arr = np.asarray(rel)
        out["gc_relative_throughput"] = {
            "median_error": float(np.median(_ape(arr[:, 0], arr[:, 1]))),
            "cells": len(rel),
        }
    return out


def calibrate(
    data_dir: str | Path | None = None, holdout_fraction: float = 0.2
) -> tuple[TeaStoreModel, dict[str, Any]]:
    """Load the measured data, split by time (the last ``holdout_fraction`` of each file is
    held out), fit on the rest and return (model, held-out errors)."""
    base = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    gsa = load_gsa(base / GSA_FILE)
    locust = load_locust([base / f for f in LOCUST_FILES])
    gsa_train, gsa_test = time_split(gsa, holdout_fraction, order="row")
    lo_train, lo_test = time_split(locust, holdout_fraction, order="timestamp_s", by="source")
    model = fit_teastore(gsa_train, lo_train)
    errors = fit_errors(model, gsa_test, lo_test)
    errors["rows"] = {
        "gsa": len(gsa),
        "gsa_rolling": int(gsa["rolling"].sum()),
        "locust": len(locust),
        "train_locust": len(lo_train),
        "test_locust": len(lo_test),
    }
    return model, errors
