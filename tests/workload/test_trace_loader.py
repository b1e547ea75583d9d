"""load_trace: good files load to the right grid; every bad input names file, line and problem."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlscale.workload import Trace, TraceError, load_trace


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def raises(path: Path, line: int | None, *fragments: str, **kwargs) -> TraceError:
    with pytest.raises(TraceError) as info:
        load_trace(path, **kwargs)
    msg = str(info.value)
    assert str(path) in msg, msg
    if line is not None:
        assert f"line {line}:" in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return info.value


# ---- good input ---------------------------------------------------------------------------


def test_iso_timestamps_with_hole_become_invalid_steps(tmp_path):
    p = write(
        tmp_path,
        "timestamp,requests,server_down\n"
        "1995-07-01T00:00:00-04:00,5,0\n"
        "1995-07-01T00:01:00-04:00,7,0\n"
        "1995-07-01T00:04:00-04:00,3,0\n"  # two missing minutes
        "1995-07-01T00:05:00-04:00,0,1\n",  # flagged outage
    )
    t = load_trace(p)
    assert t.interval_s == 60.0
    np.testing.assert_array_equal(t.counts, [5, 7, 0, 0, 3, 0])
    np.testing.assert_array_equal(t.valid, [True, True, False, False, True, False])
    assert t.start_time == pd.Timestamp("1995-07-01T00:00:00-04:00")
    assert t.name == "trace"
    np.testing.assert_allclose(t.rate_rps, t.counts / 60.0)


def test_seconds_column_and_flagged_rows_keep_values(tmp_path):
    p = write(
        tmp_path,
        "interval_index,seconds_from_start,events,suspect_gap\n0,30,10,0\n1,45,2,1\n2,60,12,0\n",
    )
    t = load_trace(p)
    assert t.interval_s == 15.0
    assert t.start_time is None
    assert t.start_offset_s == 30.0
    np.testing.assert_array_equal(t.counts, [10, 2, 12])  # flagged value kept, only masked
    np.testing.assert_array_equal(t.valid, [True, False, True])


def test_fixed_interval_without_time_column(tmp_path):
    p = write(tmp_path, "requests\n1\n2\n3\n")
    t = load_trace(p, interval_s=30)
    assert t.interval_s == 30.0 and t.total_requests == 6.0 and t.valid.all()


def test_rate_column_is_converted_to_counts(tmp_path):
    p = write(tmp_path, "seconds_from_start,generative_qps_sum,api_qps_sum\n0,2.0,1\n57,4.0,1\n171,1.0,1\n")
    t = load_trace(p, count_column="generative_qps_sum")  # name contains qps -> rate
    assert t.interval_s == 57.0
    np.testing.assert_allclose(t.counts, [114.0, 228.0, 0.0, 57.0])
    np.testing.assert_array_equal(t.valid, [True, True, False, True])
    t2 = load_trace(p, count_column="generative_qps_sum", kind="count")
    np.testing.assert_allclose(t2.counts, [2.0, 4.0, 0.0, 1.0])


def test_gzip_and_semicolon_with_sep(tmp_path):
    p = tmp_path / "t.csv.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write("time;requests\n0;1\n60;2\n")
    t = load_trace(p, sep=";")
    assert isinstance(t, Trace) and t.total_requests == 3.0 and t.name == "t"


def test_trace_is_immutable(tmp_path):
    t = load_trace(write(tmp_path, "requests\n1\n2\n"), interval_s=60)
    with pytest.raises(ValueError):
        t.counts[0] = 5


# ---- bad input: one test per case ----------------------------------------------------------


def test_missing_count_column_named(tmp_path):
    p = write(tmp_path, "timestamp,requests\n2020-01-01T00:00:00,1\n")
    raises(p, 1, "missing column", "'hits'", count_column="hits")


def test_missing_time_column_without_interval(tmp_path):
    p = write(tmp_path, "requests\n1\n2\n")
    raises(p, 1, "missing column", "no time column", "interval_s")


def test_ambiguous_count_column_lists_candidates(tmp_path):
    p = write(tmp_path, "seconds_from_start,generative_qps_sum,api_qps_sum\n0,1,2\n")
    raises(p, 1, "ambiguous count column", "generative_qps_sum", "api_qps_sum")


def test_nan_value(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,2\n120,NaN\n")
    raises(p, 4, "NaN", "'requests'")


def test_empty_value(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,\n120,3\n")
    raises(p, 3, "empty value", "'requests'")


def test_blank_line_is_an_empty_value(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n\n120,3\n")
    raises(p, 3, "empty value")


def test_non_numeric_value(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,lots\n")
    raises(p, 3, "not a finite number", "'lots'")


def test_negative_count(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,2\n120,-4\n")
    raises(p, 4, "negative count")


def test_unsorted_timestamps(tmp_path):
    p = write(tmp_path, "timestamp,requests\n2020-01-01T00:02:00,1\n2020-01-01T00:01:00,1\n")
    raises(p, 3, "not sorted")


def test_duplicate_timestamps(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,1\n60,2\n")
    raises(p, 4, "duplicate timestamp")


def test_empty_file(tmp_path):
    raises(write(tmp_path, ""), 1, "empty file")


def test_header_only(tmp_path):
    raises(write(tmp_path, "timestamp,requests\n"), 2, "empty file", "no data rows")


def test_semicolon_delimiter_detected(tmp_path):
    p = write(tmp_path, "timestamp;requests\n2020-01-01T00:00:00;1\n")
    raises(p, 1, "wrong delimiter", "semicolon", "sep=';'")


def test_tab_delimiter_detected(tmp_path):
    p = write(tmp_path, "timestamp\trequests\n0\t1\n")
    raises(p, 1, "wrong delimiter", "tab")


def test_unparseable_timestamp(tmp_path):
    p = write(tmp_path, "timestamp,requests\n2020-01-01T00:00:00,1\nyesterday,1\n")
    raises(p, 3, "unparseable timestamp", "'yesterday'")


def test_off_grid_timestamp(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,1\n120,1\n150,1\n")
    raises(p, 5, "not on the 60-s grid")


def test_extra_field_reports_line(tmp_path):
    p = write(tmp_path, "seconds,requests\n0,1\n60,1,9\n")
    raises(p, 3, "wrong number of fields")


def test_bad_gap_flag(tmp_path):
    p = write(tmp_path, "seconds,requests,server_down\n0,1,0\n60,1,2\n")
    raises(p, 3, "must be 0 or 1")


def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="file not found"):
        load_trace(tmp_path / "nope.csv")
