"""The TeaStore calibration: data loading errors, the fitted model's shape, the preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlscale.calibration.teastore_fit import calibrate
from rlscale.sim import get_preset, load_service
from rlscale.sim.teastore import TEASTORE_MODEL, TeaStoreModel
from rlscale.workload.app2scale import DEFAULT_DATA_DIR, load_gsa, load_locust

HAVE_DATA = (DEFAULT_DATA_DIR / "gsa_data.log").exists()


def test_locust_file_missing_columns_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "runs.csv"
    bad.write_text("replica,cpu,heap,num_request\n1,5,7,40\n")
    with pytest.raises(ValueError, match=r"runs\.csv: missing column\(s\) \['cpu_usage'"):
        load_locust([bad])


def test_gsa_file_missing_columns_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "data.log"
    bad.write_text("re heap cpu\n1 500 500\n")
    with pytest.raises(ValueError, match=r"data\.log: missing column"):
        load_gsa(bad)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_gsa(tmp_path / "nope.log")


def test_model_capacity_shape() -> None:
    m = TEASTORE_MODEL
    cpu = np.arange(0.2, 1.01, 0.1)
    cap = m.pod_capacity_rps(cpu, 700.0)
    assert np.all(np.diff(cap) > 0)  # more CPU, more capacity
    assert m.pod_capacity_rps(0.05, 700.0) == 0.0  # below the idle CPU: nothing
    assert m.gc_factor(100.0) < m.gc_factor(300.0) < m.gc_factor(900.0) <= 1.0
    assert bool(m.oom(m.live_heap_mb)) and not bool(m.oom(m.live_heap_mb + 1))
    assert m.service_capacity_rps(3, 0.9, 700.0) <= m.backend_capacity_rps + 1e-9
    lat = m.latency_mean_s(np.array([10.0, 50.0, 90.0]), 1, 0.6, 700.0)
    assert np.all(np.diff(lat) > 0) and lat[0] >= m.base_latency_s
    assert np.isinf(m.latency_mean_s(1000.0, 1, 0.6, 700.0))


def test_model_round_trip_and_bad_field() -> None:
    assert TeaStoreModel.from_dict(TEASTORE_MODEL.to_dict()) == TEASTORE_MODEL
    with pytest.raises(ValueError, match="unknown TeaStoreModel field"):
        TeaStoreModel.from_dict({"nope": 1.0})
    with pytest.raises(ValueError, match="cpu_idle_cores"):
        TeaStoreModel(cpu_idle_cores=-1.0)


def test_teastore_preset_registered() -> None:
    params = get_preset("teastore")
    assert load_service("teastore") is params
    assert params.spec.name == "teastore"
    np.testing.assert_allclose(params.mu_rps, TEASTORE_MODEL.pod_capacity_rps(0.6, 700.0), rtol=1e-9)


@pytest.mark.skipif(not HAVE_DATA, reason="shared app2scale data not available")
def test_calibration_reproduces_shipped_model_and_meets_latency_target() -> None:
    model, errors = calibrate()
    for k, v in TEASTORE_MODEL.to_dict().items():
        assert getattr(model, k) == pytest.approx(v, rel=1e-3), k
    assert errors["rows"]["gsa"] == 21168
    assert errors["latency"]["median_error"] < 0.20
    assert errors["throughput_saturation"]["median_error"] < 0.15
    assert errors["memory"]["row_median_error"] < 0.10
