"""resample / rescale / windows / split / fill_gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscale.workload import (
    Trace,
    TraceError,
    fill_gaps,
    resample,
    rescale,
    rescale_trace,
    split,
    window_starts,
    windows,
)


def make(counts, interval_s=60.0, valid=None, start="2020-01-01T00:00:00") -> Trace:
    return Trace(
        name="t",
        interval_s=interval_s,
        counts=np.asarray(counts, dtype=float),
        start_time=None if start is None else pd.Timestamp(start),
        source="test",
        valid=valid,
    )


# ---- resample -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 500), min_size=1, max_size=60),
    factor=st.sampled_from([2, 3, 4, 12]),
)
def test_upsample_conserves_counts(counts, factor):
    t = make(counts, interval_s=60.0)
    even = resample(t, 60.0 / factor)
    assert len(even) == len(t) * factor
    np.testing.assert_allclose(even.counts.reshape(-1, factor).sum(axis=1), t.counts, rtol=1e-12)
    multi = resample(t, 60.0 / factor, method="multinomial", seed=1)
    np.testing.assert_array_equal(multi.counts.reshape(-1, factor).sum(axis=1), t.counts)  # exact
    assert np.all(multi.counts == np.rint(multi.counts))


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.floats(0, 1e4), min_size=4, max_size=80), factor=st.sampled_from([2, 4]))
def test_downsample_sums(counts, factor):
    counts = counts[: len(counts) // factor * factor]
    t = make(counts, interval_s=15.0)
    d = resample(t, 15.0 * factor)
    np.testing.assert_allclose(d.counts, np.asarray(counts).reshape(-1, factor).sum(axis=1))
    assert d.total_requests == pytest.approx(t.total_requests)


def test_minute_to_15s_round_trip_and_rate_preserved():
    t = make([60, 120, 0, 30])
    up = resample(t, 15.0)
    np.testing.assert_allclose(up.rate_rps, np.repeat(t.rate_rps, 4))
    back = resample(up, 60.0)
    np.testing.assert_allclose(back.counts, t.counts)


def test_non_integer_ratio_conserves_whole_steps():
    t = make(np.arange(1.0, 13.0), interval_s=60.0)  # 12 min
    r = resample(t, 90.0)  # 8 steps of 90 s exactly cover 12 min
    assert len(r) == 8
    assert r.total_requests == pytest.approx(t.total_requests)


def test_multinomial_is_seeded():
    t = make([100, 57, 3])
    a = resample(t, 15.0, method="multinomial", seed=7)
    b = resample(t, 15.0, method="multinomial", seed=7)
    c = resample(t, 15.0, method="multinomial", seed=8)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, c.counts)


def test_resample_propagates_gaps():
    t = make([1, 1, 1, 1], interval_s=15.0, valid=[True, True, True, False])
    d = resample(t, 30.0)
    np.testing.assert_array_equal(d.valid, [True, False])
    u = resample(t, 5.0)
    assert u.valid.sum() == 9


def test_trailing_remainder_dropped():
    d = resample(make([1, 2, 3, 4, 5], interval_s=15.0), 30.0)
    np.testing.assert_array_equal(d.counts, [3, 7])


# ---- rescale ------------------------------------------------------------------------------


def test_rescale_maps_peak_to_fraction_of_fleet_capacity():
    rates = np.array([1.0, 5.0, 2.0, 10.0, 3.0])
    out = rescale(rates, pod_capacity_rps=100.0, max_replicas=10)  # default peak_fraction 0.8
    assert out.max() == pytest.approx(0.8 * 10 * 100.0)
    np.testing.assert_allclose(out / out.max(), rates / rates.max())  # shape unchanged
    out2 = rescale(rates, 50.0, 4, peak_fraction=0.5)
    assert out2.max() == pytest.approx(100.0)


def test_rescale_quantile_for_spiky_trace():
    rates = np.concatenate([np.ones(99), [100.0]])
    out = rescale(rates, 10.0, 10, peak_fraction=0.8, peak_quantile=0.9)
    assert np.quantile(out, 0.9) == pytest.approx(80.0)
    assert out.max() > 80.0  # the spike exceeds the target on purpose


def test_rescale_ignores_invalid_steps_for_the_peak():
    t = make([10, 20, 1000], valid=[True, True, False])
    s = rescale_trace(t, 1.0, 1, peak_fraction=1.0)
    assert s.rate_rps[1] == pytest.approx(1.0)
    np.testing.assert_array_equal(s.valid, t.valid)


def test_rescale_rejects_all_zero():
    with pytest.raises(TraceError, match="peak is 0"):
        rescale(np.zeros(5), 1.0, 1)


# ---- windows ------------------------------------------------------------------------------


def test_windows_never_cross_gaps():
    valid = np.ones(100, dtype=bool)
    valid[[17, 50, 51, 52]] = False
    t = make(np.arange(100.0), interval_s=15.0, valid=valid)
    starts = window_starts(t, 10, stride_steps=1)
    for s in starts:
        assert valid[s : s + 10].all()
    # every gap-free start is found
    expected = [s for s in range(91) if valid[s : s + 10].all()]
    np.testing.assert_array_equal(starts, expected)
    ws = windows(t, 10, count=5, rng=3)
    assert len(ws) == 5 and all(w.shape == (10,) for w in ws)
    for w in ws:
        s = round(w[0] * 15.0)  # counts are the step index
        assert valid[s : s + 10].all()


def test_windows_default_stride_non_overlapping_and_seeded():
    t = make(np.arange(40.0), interval_s=1.0)
    ws = windows(t, 10)
    assert [int(w[0]) for w in ws] == [0, 10, 20, 30]
    a = window_starts(t, 5, count=6, rng=11)
    b = window_starts(t, 5, count=6, rng=11)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 6


def test_windows_on_arrays_treat_nan_as_gap():
    r = np.ones(30)
    r[10] = np.nan
    assert all(np.isfinite(w).all() for w in windows(r, 8, stride_steps=1))
    with pytest.raises(TraceError, match="longest gap-free run: 19"):
        windows(r, 20)


# ---- split --------------------------------------------------------------------------------


def test_split_by_timestamp_is_disjoint_and_complete():
    t = make(np.arange(120.0), interval_s=60.0, start="1995-07-31T23:00:00-04:00")
    train, test = split(t, test_start="1995-08-01")  # naive -> trace time zone
    assert len(train) == 60 and len(test) == 60
    assert test.start_time == pd.Timestamp("1995-08-01T00:00:00-04:00")
    assert train.timestamps()[-1] < test.timestamps()[0]
    np.testing.assert_array_equal(np.concatenate([train.counts, test.counts]), t.counts)
    assert test.start_offset_s == 3600.0


def test_split_by_fraction_and_seconds():
    t = make(np.arange(100.0), start=None)
    train, test = split(t, test_fraction=0.25)
    assert (len(train), len(test)) == (75, 25)
    train, test = split(t, test_start=30 * 60.0 + 1)  # first step at or after
    assert len(train) == 31


def test_split_rejects_bad_arguments():
    t = make(np.arange(10.0), start=None)
    with pytest.raises(TraceError, match="exactly one"):
        split(t)
    with pytest.raises(TraceError, match="no absolute time"):
        split(t, test_start="2020-01-01")
    with pytest.raises(TraceError, match="empty half"):
        split(t, test_start=10_000.0)


# ---- fill_gaps ----------------------------------------------------------------------------


def test_fill_gaps_interpolates_short_interior_gaps_only():
    valid = np.array([False, True, False, False, True, False, False, False, False, True, False])
    t = make([0, 10, 0, 0, 40, 0, 0, 0, 0, 90, 0], interval_s=60.0, valid=valid)
    f = fill_gaps(t, max_gap_s=180.0)
    np.testing.assert_allclose(f.counts[1:5], [10, 20, 30, 40])
    assert f.valid[2] and f.valid[3]
    assert not f.valid[0] and not f.valid[-1]  # ends stay gaps
    assert not f.valid[5:9].any()  # 4-step gap > 180 s
    assert fill_gaps(t).valid[5:9].all()
