"""Named traces: the bundled NASA trace, the shared-folder traces and the standard splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlscale.workload import (
    DATA_DIR_ENV,
    NAMED_TRACES,
    SYNTHETIC_TEST_SEED_OFFSET,
    TraceError,
    get_trace,
    parse_synthetic,
    standard_split,
    synthetic,
    window_starts,
    windows,
)
from rlscale.workload.registry import data_dir

# Documented in src/rlscale/data/NOTICE.md and shared/data/traces/README.md §1.
NASA_ROWS = 84_333
NASA_TOTAL = 3_461_610
NASA_OUTAGE_MINUTES = 2_263
NASA_STEPS = 89_280  # 1995-07-01 00:00 .. 08-31 23:59, one-minute grid, hole included


@pytest.fixture
def no_shared_folder(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(DATA_DIR_ENV, str(missing))
    return missing


def test_bundled_nasa_loads_without_the_shared_folder(no_shared_folder):
    with pytest.raises(TraceError, match="not a directory"):
        data_dir()
    t = get_trace("nasa")
    assert t.source == "bundled:nasa"
    assert t.total_requests == NASA_TOTAL
    assert len(t) == NASA_STEPS and t.interval_s == 60.0
    assert int(t.valid.sum()) == NASA_ROWS - NASA_OUTAGE_MINUTES
    assert t.start_time == pd.Timestamp("1995-07-01T00:00:00-04:00")
    # the STS-70 launch flash crowd: max 405 req/min at 1995-07-13 09:49
    i = int(np.argmax(t.counts))
    assert t.counts[i] == 405 and t.timestamps()[i] == pd.Timestamp("1995-07-13T09:49:00-04:00")


def test_nasa_standard_split_is_july_august(no_shared_folder):
    train, test = standard_split("nasa")
    assert train.timestamps()[-1] == pd.Timestamp("1995-07-31T23:59:00-04:00")
    assert test.start_time == pd.Timestamp("1995-08-01T00:00:00-04:00")
    assert train.total_requests + test.total_requests == NASA_TOTAL
    # the 3.5-day July hole and the August outage are gaps no window may cross
    assert not train.valid[-1] and not test.valid.all()
    train15, test15 = standard_split("nasa", step_s=15.0)
    assert train15.interval_s == 15.0 and len(train15) == 4 * len(train)
    # 1-day windows every hour: none may touch the Hurricane Erin outage (08-01 14:53 .. 08-03 04:35)
    day = 4 * 60 * 24
    starts = window_starts(test15, day, stride_steps=4 * 60)
    stamps = test15.timestamps()
    outage = (pd.Timestamp("1995-08-01T14:53:00-04:00"), pd.Timestamp("1995-08-03T04:36:00-04:00"))
    assert len(starts) > 0
    for s in starts:
        first, last = stamps[s], stamps[s + day - 1]
        assert last < outage[0] or first >= outage[1]
    assert len(windows(test15, day, stride_steps=4 * 60)) == len(starts)


def test_missing_shared_trace_says_where_it_looked(no_shared_folder):
    with pytest.raises(TraceError, match=DATA_DIR_ENV):
        get_trace("twitter")


def test_unknown_name_is_explained():
    with pytest.raises(TraceError, match="not a named trace"):
        get_trace("wikipedia")


def test_csv_path_goes_through_load_trace(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("seconds,requests\n0,4\n60,8\n", encoding="utf-8")
    t = get_trace(str(p), step_s=15.0)
    assert t.interval_s == 15.0 and t.total_requests == 12.0 and t.name == "mine"


def test_synthetic_spec_parsing_and_split_by_seed():
    kind, params = parse_synthetic("synthetic:flash-crowd?seed=3&steps=100&multiplier=4.5")
    assert kind == "flash_crowd" and params == {"seed": 3, "steps": 100, "multiplier": 4.5}
    t = get_trace("synthetic:spike?seed=3&steps=200&peak_rps=50")
    np.testing.assert_allclose(t.rate_rps, synthetic("spike", 200, 15.0, 3, peak_rps=50))
    train, test = standard_split("synthetic:spike?seed=3&steps=200")
    np.testing.assert_allclose(test.rate_rps, synthetic("spike", 200, 15.0, 3 + SYNTHETIC_TEST_SEED_OFFSET))
    assert not np.allclose(train.rate_rps, test.rate_rps)
    with pytest.raises(TraceError, match="unknown synthetic"):
        get_trace("synthetic:tsunami")
    with pytest.raises(TraceError, match="not a number"):
        get_trace("synthetic:spike?seed=x")
    with pytest.raises(TraceError, match="bad parameter"):
        get_trace("synthetic:spike?colour=3")


def _shared_available() -> bool:
    try:
        d = data_dir()
    except TraceError:
        return False
    return all((d / spec.file).is_file() for spec in NAMED_TRACES.values() if not spec.bundled)


shared = pytest.mark.skipif(not _shared_available(), reason="shared trace folder not present")

# (name, test-part duration in days or None, test fraction or None, documented total)
SHARED_CASES = [
    ("twitter", 7.0, None, 120_774_324),
    ("twitter-15s", 7.0, None, 120_774_324),
    ("alibaba-lora", 5.0, None, 26_823),
    ("alibaba-gateway", None, 0.25, None),
]


@shared
@pytest.mark.parametrize(("name", "test_days", "test_fraction", "total"), SHARED_CASES)
def test_shared_standard_splits(name, test_days, test_fraction, total):
    train, test = standard_split(name)
    full = get_trace(name)
    assert len(train) + len(test) == len(full)
    assert test.start_offset_s - full.start_offset_s == pytest.approx(train.duration_s)
    if test_days is not None:
        assert test.duration_s == pytest.approx(test_days * 86_400, abs=full.interval_s)
    else:
        assert len(test) == round(len(full) * test_fraction)
    if total is not None:
        assert train.total_requests + test.total_requests == total
    assert np.all(train.counts >= 0) and np.all(test.counts >= 0)


@shared
def test_twitter_suspect_gaps_are_masked():
    t = get_trace("twitter")
    assert int((~t.valid).sum()) == 611  # README §3: 611 flagged minutes
    # windows longer than the ~24 h between the daily gaps need fill_gaps
    with pytest.raises(TraceError, match="gap-free"):
        windows(t, 26 * 60)
