"""Named traces and their standard train/test splits.

Names accepted by :func:`get_trace`:

* ``nasa`` — NASA Kennedy Space Center WWW server, Jul–Aug 1995, per minute. **Bundled**
  with the package (``rlscale/data/nasa_kennedy_1995_per_minute.csv.gz``; the traces "may
  be freely redistributed", see the NOTICE there), so defaults work with no external file.
* ``twitter``, ``twitter-15s``, ``alibaba-lora``, ``alibaba-gateway`` — read from the
  shared data folder (:func:`data_dir`); *not* bundled because their terms differ
  (Twitter: no stated licence, project-internal research use; Alibaba: research/study use).
* ``synthetic:<kind>[?key=value&...]`` — a seeded generator from
  :mod:`rlscale.workload.synthetic`; keys ``seed`` (default 0), ``steps`` (default 5760 =
  one day at 15 s), ``step_s`` (default 15) and any generator parameter, e.g.
  ``synthetic:spike?seed=3&peak_rps=200`` or ``synthetic:flash-crowd?steps=2880``; the bursty
  kinds of :mod:`rlscale.workload.bursts` too (``synthetic:mmpp?seed=3&states=2``,
  ``synthetic:from-zero?step_s=1&steps=3600`` for one hour per second). Seeds >= 1,000,000
  are evaluation's (:mod:`rlscale.workload.seeds`).
* anything else is a path to a CSV file, read by :func:`rlscale.workload.load_trace`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from rlscale.workload.loader import load_trace
from rlscale.workload.seeds import EVALUATION_SEED_MIN
from rlscale.workload.synthetic import DEFAULT_STEP_S, canonical_kind, synthetic
from rlscale.workload.trace import Trace, TraceError
from rlscale.workload.transform import resample, split

#: Environment variable naming the folder that holds the shared (non-bundled) trace CSVs.
DATA_DIR_ENV = "RLSCALE_DATA_DIR"
#: Default synthetic length: one day of 15-s steps.
SYNTHETIC_DEFAULT_STEPS = 5760
#: Test seeds of a synthetic trace are ``seed + SYNTHETIC_TEST_SEED_OFFSET``, in the
#: evaluation range that training never draws (:mod:`rlscale.workload.seeds`).
SYNTHETIC_TEST_SEED_OFFSET = EVALUATION_SEED_MIN

BUNDLED_NASA = "nasa_kennedy_1995_per_minute.csv.gz"

_DAY_S = 86_400.0


@dataclass(frozen=True)
class NamedTrace:
    """Where a named trace lives, how to read it and where its test part starts."""

    file: str
    load_kwargs: dict[str, Any]
    bundled: bool = False
    test_start: str | None = None  # ISO timestamp of the first test step
    test_last_s: float | None = None  # test = the last this many seconds
    test_fraction: float | None = None  # test = the last fraction of steps
    terms: str = ""


#: The Twitter stream's two resolutions share columns and terms (data/traces/README.md).
_TWITTER_COLUMNS = {
    "time_column": "seconds_from_start",
    "count_column": "events",
    "gap_column": "suspect_gap",
}
_TWITTER_TERMS = "Archive Team Twitter stream: no stated licence; project-internal research use only"

NAMED_TRACES: dict[str, NamedTrace] = {
    "nasa": NamedTrace(
        file=BUNDLED_NASA,
        load_kwargs={"time_column": "timestamp", "count_column": "requests", "gap_column": "server_down"},
        bundled=True,
        test_start="1995-08-01T00:00:00-04:00",
        terms="ITA NASA-HTTP: freely redistributable; no analysis beyond general traffic patterns",
    ),
    "twitter": NamedTrace(
        file="twitter_stream_2021_08_per_minute.csv",
        load_kwargs=dict(_TWITTER_COLUMNS),
        test_last_s=7 * _DAY_S,
        terms=_TWITTER_TERMS,
    ),
    "twitter-15s": NamedTrace(
        file="twitter_stream_2021_08_per_15s.csv",
        load_kwargs=dict(_TWITTER_COLUMNS),
        test_last_s=7 * _DAY_S,
        terms=_TWITTER_TERMS,
    ),
    "alibaba-lora": NamedTrace(
        file="alibaba_genai_lora_requests_per_minute.csv",
        load_kwargs={"time_column": "timestamp", "count_column": "requests"},
        test_last_s=5 * _DAY_S,
        terms="Alibaba Cluster Trace Program: research or study purposes; cite Lin et al., SoCC 2025",
    ),
    "alibaba-gateway": NamedTrace(
        file="alibaba_genai_gateway_qps_per_tick.csv",
        load_kwargs={
            "time_column": "seconds_from_start",
            "count_column": "generative_qps_sum",
            "kind": "rate",
            "interval_s": 57.0,
        },
        test_fraction=0.25,
        terms="Alibaba Cluster Trace Program: research or study purposes; values are scaled (shape only)",
    ),
}


def _candidate_dirs() -> list[Path]:
    repo = Path(__file__).resolve().parents[3]
    return [repo.parent / "shared" / "data" / "traces", Path("/work/shared/data/traces")]


def data_dir() -> Path:
    """The folder holding the shared trace CSVs.

    ``$RLSCALE_DATA_DIR`` if set (it must exist), else the first existing of
    ``<repo>/../shared/data/traces`` and ``/work/shared/data/traces``.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        p = Path(env)
        if not p.is_dir():
            raise TraceError(f"{DATA_DIR_ENV}={env!r} is not a directory")
        return p
    for p in _candidate_dirs():
        if p.is_dir():
            return p
    looked = ", ".join(str(p) for p in _candidate_dirs())
    raise TraceError(
        f"shared trace folder not found: {DATA_DIR_ENV} is unset and none of [{looked}] exists; "
        f"set {DATA_DIR_ENV} to the folder holding the trace CSVs"
    )


@functools.lru_cache(maxsize=8)
def _cached_load(path: str, mtime_ns: int, name: str, source: str | None) -> Trace:
    """Parse once per (file, modification time): traces are immutable, so sharing is safe."""
    del mtime_ns  # part of the cache key only
    trace = load_trace(path, name=name, **NAMED_TRACES[name].load_kwargs)
    return trace if source is None else _with_source(trace, source)


def _load_named(name: str) -> Trace:
    spec = NAMED_TRACES[name]
    if spec.bundled:
        ref = resources.files("rlscale") / "data" / spec.file
        with resources.as_file(ref) as path:
            if not path.is_file():
                raise TraceError(f"bundled trace {spec.file!r} missing from the rlscale package data")
            return _cached_load(str(path), path.stat().st_mtime_ns, name, f"bundled:{name}")
    path = data_dir() / spec.file
    if not path.is_file():
        raise TraceError(
            f"trace {name!r}: {path} not found (looked in {DATA_DIR_ENV} / the shared data folder)"
        )
    return _cached_load(str(path), path.stat().st_mtime_ns, name, None)


def _with_source(trace: Trace, source: str) -> Trace:
    return Trace(
        name=trace.name,
        interval_s=trace.interval_s,
        counts=trace.counts,
        start_time=trace.start_time,
        source=source,
        valid=trace.valid,
        start_offset_s=trace.start_offset_s,
    )


def _number(key: str, value: str) -> float | int:
    try:
        f = float(value)
    except ValueError:
        raise TraceError(f"synthetic parameter {key}={value!r} is not a number") from None
    return int(f) if key in ("seed", "steps") or (f.is_integer() and "." not in value) else f


def parse_synthetic(spec: str) -> tuple[str, dict[str, float | int]]:
    """``"synthetic:spike?seed=3&steps=100"`` → ``("spike", {"seed": 3, "steps": 100})``."""
    body = spec.split(":", 1)[1]
    kind, _, query = body.partition("?")
    params = (
        {k: _number(k, v) for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))}
        if query
        else {}
    )
    return canonical_kind(kind), params


def _synthetic_trace(spec: str, seed_offset: int = 0) -> Trace:
    kind, params = parse_synthetic(spec)
    seed = int(params.pop("seed", 0)) + seed_offset
    steps = int(params.pop("steps", SYNTHETIC_DEFAULT_STEPS))
    step_s = float(params.pop("step_s", DEFAULT_STEP_S))
    rates = synthetic(kind, steps, step_s, seed, **params)
    label = spec if seed_offset == 0 else f"{spec} (test seed {seed})"
    return Trace(name=label, interval_s=step_s, counts=rates * step_s, start_time=None, source=spec)


def get_trace(name_or_path: str | Path, *, step_s: float | None = None, **load_kwargs: Any) -> Trace:
    """A named trace, a ``synthetic:`` spec or a CSV path (see the module docstring).

    ``step_s`` resamples the result (counts conserved); ``load_kwargs`` go to
    :func:`load_trace` for paths.
    """
    key = str(name_or_path)
    if key in NAMED_TRACES:
        if load_kwargs:
            raise TraceError(
                f"trace {key!r} is named; load options {sorted(load_kwargs)} apply to CSV paths only"
            )
        trace = _load_named(key)
    elif key.startswith("synthetic:"):
        trace = _synthetic_trace(key)
    else:
        path = Path(key)
        if not path.exists() and path.suffix.lower() not in (".csv", ".gz"):
            raise TraceError(
                f"unknown trace {key!r}: not a named trace {sorted(NAMED_TRACES)}, not 'synthetic:<kind>', "
                "and no such file"
            )
        trace = load_trace(path, **load_kwargs)
    return trace if step_s is None else resample(trace, step_s)


def standard_split(name: str, *, step_s: float | None = None) -> tuple[Trace, Trace]:
    """The fixed ``(train, test)`` split of a named trace, for honest evaluation.

    Test windows never enter training: train on the first part, evaluate on the second.

    ===================  =================================================  ==========================
    name                 test part                                          train part
    ===================  =================================================  ==========================
    ``nasa``             August 1995 (from 1995-08-01 00:00 -04:00)          July 1995
    ``twitter``          the last 7 days                                     the first ~15 days
    ``twitter-15s``      the last 7 days                                     the first ~15 days
    ``alibaba-lora``     the last 5 days                                     the first ~18 days
    ``alibaba-gateway``  the last 25 % of ticks (~5.6 h)                     the first ~16.7 h
    ``synthetic:...``    same generator, seed + 1,000,000                    the given seed
    ===================  =================================================  ==========================

    These are issue 4's test windows ("NASA August, the last week of Twitter, the last days
    of the Alibaba LoRA trace"). ``step_s`` resamples both halves.
    """
    if name.startswith("synthetic:"):
        train, test = _synthetic_trace(name), _synthetic_trace(name, SYNTHETIC_TEST_SEED_OFFSET)
    elif name in NAMED_TRACES:
        spec = NAMED_TRACES[name]
        trace = _load_named(name)
        if spec.test_start is not None:
            train, test = split(trace, test_start=spec.test_start)
        elif spec.test_last_s is not None:
            train, test = split(trace, test_start=trace.duration_s - spec.test_last_s)
        else:
            train, test = split(trace, test_fraction=spec.test_fraction)
    else:
        raise TraceError(
            f"no standard split for {name!r}; known: {sorted(NAMED_TRACES)} and 'synthetic:<kind>'"
        )
    if step_s is not None:
        train, test = resample(train, step_s), resample(test, step_s)
    return train, test
