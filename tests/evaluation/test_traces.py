"""--trace arguments → rescaled windows (whole trace, test-split windows, CSV columns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlscale.evaluation.traces import prepare_trace
from rlscale.sim.presets import get_preset
from rlscale.workload.trace import TraceError

WEB = get_preset("web")
PEAK_RPS = 0.8 * WEB.spec.max_replicas * float(WEB.mu_rps)


def _csv(tmp_path: Path, n: int = 400) -> Path:
    path = tmp_path / "trace.csv"
    t = np.arange(n) * 60
    hits = (100 + 50 * np.sin(np.arange(n) / 20)).round()
    other = np.full(n, 7)
    path.write_text(
        "seconds,hits,other\n" + "".join(f"{a},{b:g},{c}\n" for a, b, c in zip(t, hits, other, strict=True))
    )
    return path


def test_whole_csv_trace_with_column_is_rescaled(tmp_path: Path) -> None:
    tr = prepare_trace(str(_csv(tmp_path)), WEB, column="hits")
    assert tr.windows == 1 and tr.steps == 400 * 4  # 1-min rows resampled to 15-s steps
    assert tr.rates_rps.max() == pytest.approx(PEAK_RPS)
    assert tr.valid.all()


def test_windows_come_from_the_test_part(tmp_path: Path) -> None:
    tr = prepare_trace(str(_csv(tmp_path)), WEB, column="hits", windows=3, window_hours=0.5)
    assert tr.rates_rps.shape == (3, 120)
    assert tr.start_offsets_s is not None
    assert np.all(tr.start_offsets_s >= 0.75 * 400 * 60 - 1e-9)  # last 25 % of the file
    again = prepare_trace(str(_csv(tmp_path)), WEB, column="hits", windows=3, window_hours=0.5)
    np.testing.assert_array_equal(tr.rates_rps, again.rates_rps)  # fixed window seed


def test_bad_trace_arguments(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such file"):
        prepare_trace(str(tmp_path / "missing.csv"), WEB)
    with pytest.raises(TraceError, match="--column"):
        prepare_trace("synthetic:spike", WEB, column="x")
    with pytest.raises(TraceError):
        prepare_trace(str(_csv(tmp_path)), WEB, column="nosuchcolumn")
    with pytest.raises(TraceError, match="ambiguous count column"):
        prepare_trace(str(_csv(tmp_path)), WEB)
    with pytest.raises(TraceError, match="windows"):
        prepare_trace(str(_csv(tmp_path)), WEB, column="hits", windows=2, window_hours=3.0)


def test_chunked_trace_scores_every_step_once() -> None:
    import numpy as np

    from rlscale.evaluation.runner import EvalTrace
    from rlscale.evaluation.traces import chunk_trace

    rates = np.arange(1.0, 24.0)  # 23 steps, chunks of 5 after a 3-step lead-in
    valid = np.ones(23, dtype=bool)
    valid[7] = False  # a gap stays a gap
    chunked = chunk_trace(EvalTrace("t", rates[None, :], valid[None, :]), 5, 3, step_s=15.0)
    assert chunked.rates_rps.shape == (5, 8)
    scored = chunked.rates_rps[chunked.valid]
    np.testing.assert_array_equal(np.sort(scored), np.delete(rates, 7))
    # a chunk's lead-in is the real load just before what it scores
    np.testing.assert_array_equal(chunked.rates_rps[1], rates[2:10])
    np.testing.assert_array_equal(chunked.rates_rps[0, :3], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(chunked.start_offsets_s[:2], [-45.0, 30.0])
