"""Fitting the ``teastore`` model (:class:`~rlscale.sim.teastore.TeaStoreModel`) to the
measured app2scale data (:mod:`rlscale.workload.app2scale`) by robust least squares, and its
errors on held-out rows (``bench/calibration.py`` prints them; the shipped constants in
``sim.teastore`` are this fit's result).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.sim.teastore import TeaStoreModel
from rlscale.workload.app2scale import (
    DEFAULT_DATA_DIR,
    GSA_FILE,
    LOCUST_FILES,
    load_gsa,
    load_locust,
    time_split,
)

#: Heaps at or above this are "large": the GC model is normalised to their mean.
LARGE_HEAP_MB = 500.0
#: Lower bound of the fitted replica exponent (0.3: a wide bound, the fit settles on it)
REPLICA_EXPONENT_MIN = 0.3
_LARGE_HEAPS = np.arange(500.0, 901.0, 100.0)
#: A Locust row whose throughput is below this fraction of the offered load is "saturated".
SATURATED_RATIO = 0.9
#: ... and above this fraction "unsaturated" (its latency is a queueing latency).
UNSATURATED_RATIO = 0.97


def _gc_relative_throughput(gsa: Any) -> list[tuple[float, float, int]]:
    """The heap's effect alone: ``(heap_mb, session rate / the median over the large heaps,
    rows)`` per (CPU limit, heap) of the CPU-bound gsa rows (400–500 m, no restart); at the
    large heaps (>= 500 MB) GC costs ~nothing."""
    rows = gsa[(~gsa["rolling"]) & gsa["cpu_limit_cores"].between(0.35, 0.55)]
    out: list[tuple[float, float, int]] = []
    for _, g in rows.groupby("cpu_limit_cores"):
        med = g.groupby("heap_mb")["session_rate"].median()
        ref = float(g[g["heap_mb"] >= LARGE_HEAP_MB]["session_rate"].median())
        if not ref > 0:
            continue
        counts = g.groupby("heap_mb").size()
        out += [(float(h), float(v / ref), int(counts[h])) for h, v in med.items()]
    return out


def _relative_gc_factor(model: TeaStoreModel, heap_mb: np.ndarray | float) -> np.ndarray:
    """The model's GC factor relative to its mean over the large heaps (as measured)."""
    return model.gc_factor(heap_mb) / model.gc_factor(_LARGE_HEAPS).mean()


def _fit_gc(gsa_train: Any) -> tuple[float, float]:
    """(g, live_heap_mb) fitted to :func:`_gc_relative_throughput`, each cell weighted by the
    square root of its rows."""
    from scipy.optimize import least_squares

    rel = _gc_relative_throughput(gsa_train)
    if len(rel) < 3:
        raise ValueError("fit: too few CPU-bound gsa rows to fit the GC model")
    h_arr, y_arr, n_arr = (np.asarray(col, dtype=np.float64) for col in zip(*rel, strict=True))
    w_arr = np.sqrt(n_arr)

    def resid(x: np.ndarray) -> np.ndarray:
        pred = _relative_gc_factor(TeaStoreModel(gc_coefficient=x[0], live_heap_mb=x[1]), h_arr)
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
    rel = [(float(_relative_gc_factor(model, h)), y) for h, y, _ in _gc_relative_throughput(gsa_test)]
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
