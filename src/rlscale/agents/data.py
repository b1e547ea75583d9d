"""Training and validation windows from the TRAINING splits only (DESIGN.md §6).

Named traces: ``standard_split(name)`` gives (train, test); the test part is never touched
here. The last ``val_fraction`` of the train part is carved off for validation (model
selection against the HPA frontier), the rest gives training windows. Synthetic kinds use
training and validation seeds from :mod:`rlscale.workload.seeds`, never evaluation's.
Every window is rescaled so its peak is a random fraction of the fleet's capacity: the policy
sees 2-pod and 18-pod services alike (scale randomisation; the observations are scale-free).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.workload import (
    Trace,
    fill_gaps,
    get_trace,
    rescale,
    split,
    standard_split,
    synthetic,
    windows,
)
from rlscale.workload.registry import parse_synthetic
from rlscale.workload.seeds import training_seeds, validation_seeds
from rlscale.workload.trace import TraceError

#: The default training mix (issue 4 §2): real traces (train splits) + synthetic patterns.
DEFAULT_TRAIN_TRACES: tuple[str, ...] = (
    "nasa",
    "twitter-15s",
    "alibaba-lora",
    "alibaba-gateway",
    "synthetic:spike",
    "synthetic:flash-crowd",
    "synthetic:bursty",
    "synthetic:ramp",
    "synthetic:periodic",
    # bursty kinds whose shape the seed draws (issue 13 item 5; rlscale.workload.bursts)
    "synthetic:mmpp",
    "synthetic:heavy-tail",
    "synthetic:periodic-spikes",
    "synthetic:from-zero",
    "synthetic:step-start",
    "synthetic:per-second-noise",
)
#: Peak of a training window as a fraction of max-replica capacity: drawn uniformly here.
PEAK_FRACTION_RANGE = (0.15, 0.9)


@dataclass
class WindowSet:
    """Rate windows (req/s, already rescaled to the service) and where each came from."""

    train: list[np.ndarray] = field(default_factory=list)
    validation: list[np.ndarray] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)


def _rescaled(ws: list[np.ndarray], spec: ServiceSpec, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for w in ws:
        if float(np.max(w)) <= 0:
            continue
        frac = float(rng.uniform(*PEAK_FRACTION_RANGE))
        out.append(rescale(w, spec.pod_capacity_rps, spec.max_replicas, peak_fraction=frac))
    return out


def _cut(trace: Trace, window_steps: int, count: int, seed: int) -> tuple[list[np.ndarray], bool]:
    """``count`` gap-free windows; where gaps leave too few, gaps are bridged by
    interpolation (workload.fill_gaps) and the record says so."""
    try:
        return windows(trace, window_steps, count=count, rng=seed), False
    except TraceError:
        return windows(fill_gaps(trace), window_steps, count=count, rng=seed), True


def build_windows(
    traces: tuple[str, ...] | list[str],
    spec: ServiceSpec,
    *,
    window_steps: int,
    windows_per_trace: int = 48,
    val_windows_per_trace: int = 4,
    val_fraction: float = 0.15,
    seed: int = 0,
) -> WindowSet:
    """Training and validation windows for ``traces`` (named, ``synthetic:KIND`` or CSV paths).

    A CSV path has no standard split: its last ``val_fraction`` is validation and nothing is
    held out for test, which the record says.
    """
    rng = np.random.default_rng(seed)
    out = WindowSet(
        record={"traces": {}, "window_steps": window_steps, "peak_fraction_range": PEAK_FRACTION_RANGE}
    )
    for name in traces:
        entry: dict[str, Any] = {}
        if name.startswith("synthetic:"):
            kind, params = parse_synthetic(name)
            if {"seed", "steps", "step_s"} & set(params):
                raise ValueError(f"training trace {name!r}: seed, steps and step_s are training's to choose")
            tr_seeds = training_seeds(seed, windows_per_trace)
            va_seeds = validation_seeds(val_windows_per_trace)
            tr = [synthetic(kind, window_steps, spec.step_s, s, **params) for s in tr_seeds]
            va = [synthetic(kind, window_steps, spec.step_s, s, **params) for s in va_seeds]
            entry = {
                "train_seeds": [tr_seeds.start, tr_seeds.stop - 1],
                "validation_seeds": [va_seeds.start, va_seeds.stop - 1],
            }
        else:
            try:
                train, test = standard_split(name, step_s=spec.step_s)
                entry["test_excluded"] = {"start_offset_s": test.start_offset_s, "steps": len(test)}
            except (TraceError, KeyError, ValueError):
                train = get_trace(name, step_s=spec.step_s)
                entry["test_excluded"] = None
            fit, val = split(train, test_fraction=val_fraction)
            starts_rng = int(rng.integers(2**31))
            tr, filled_fit = _cut(fit, window_steps, windows_per_trace, starts_rng)
            va, filled_val = _cut(val, window_steps, val_windows_per_trace, starts_rng + 1)
            entry["gaps_bridged"] = filled_fit or filled_val
            entry.update(
                {
                    "train_part": {"start_offset_s": fit.start_offset_s, "steps": len(fit)},
                    "validation_part": {"start_offset_s": val.start_offset_s, "steps": len(val)},
                }
            )
        entry["train_windows"] = len(tr)
        entry["validation_windows"] = len(va)
        out.record["traces"][name] = entry
        out.train += _rescaled(tr, spec, rng)
        out.validation += _rescaled(va, spec, rng)
    if not out.train:
        raise ValueError(f"no training windows could be cut from {list(traces)}")
    return out
