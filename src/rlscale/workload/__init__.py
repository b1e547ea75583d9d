"""Workloads: load real request traces, generate synthetic ones, and shape them for the simulator.

Everything is a :class:`Trace` (counts per fixed interval plus a validity mask for gaps).
Typical use::

    from rlscale.workload import standard_split, resample, rescale_trace, windows

    train, test = standard_split("nasa", step_s=15)           # July / August, 15-s steps
    train = rescale_trace(train, pod_capacity_rps=110, max_replicas=20)
    episodes = windows(train, window_steps=240, count=64, rng=0)  # req/s arrays, gap-free
"""

from rlscale.workload.loader import load_trace
from rlscale.workload.registry import (
    DATA_DIR_ENV,
    NAMED_TRACES,
    SYNTHETIC_TEST_SEED_OFFSET,
    data_dir,
    get_trace,
    parse_synthetic,
    standard_split,
)
from rlscale.workload.synthetic import (
    GENERATORS,
    bursty,
    flash_crowd,
    periodic,
    ramp,
    random_levels,
    random_walk,
    seed000,
    spike,
    synthetic,
)
from rlscale.workload.trace import Trace, TraceError
from rlscale.workload.transform import (
    DEFAULT_PEAK_FRACTION,
    DEFAULT_STEP_S,
    fill_gaps,
    resample,
    rescale,
    rescale_factor,
    rescale_trace,
    split,
    window_starts,
    windows,
)

__all__ = [
    "DATA_DIR_ENV",
    "DEFAULT_PEAK_FRACTION",
    "DEFAULT_STEP_S",
    "GENERATORS",
    "NAMED_TRACES",
    "SYNTHETIC_TEST_SEED_OFFSET",
    "Trace",
    "TraceError",
    "bursty",
    "data_dir",
    "fill_gaps",
    "flash_crowd",
    "get_trace",
    "load_trace",
    "parse_synthetic",
    "periodic",
    "ramp",
    "random_levels",
    "random_walk",
    "resample",
    "rescale",
    "rescale_factor",
    "rescale_trace",
    "seed000",
    "spike",
    "split",
    "standard_split",
    "synthetic",
    "window_starts",
    "windows",
]
