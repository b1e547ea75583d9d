"""The policy server's request vocabulary: its limits and the parsers that turn a JSON body
into numbers, observation vectors and :class:`~rlscale.core.signals.ScalingSignals`, each
mistake a :class:`RequestError` naming the field (a 4xx, never a crash)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlscale.core.signals import OPTIONAL_SIGNAL_FIELDS, ScalingSignals

API_VERSION = "1.0.0"
MAX_TARGET_LEN = 253  # a Kubernetes object name (DNS subdomain, RFC 1123)
MAX_EXPERIENCES_PER_REQUEST = 10_000
#: Largest magnitude accepted in a logged experience. Observations are scale-free (loads in
#: pods, utilisations, ratios: O(1..100)) and rewards are per-step costs of the same order; one
#: value of 1e30 makes every later ridge fit overflow, so online learning would stop for good.
MAX_EXPERIENCE_MAGNITUDE = 1e6
#: Observations are float32: a larger value would become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)
SIGNAL_FIELDS = ScalingSignals.field_names()
#: spec.replicas of a Scale is an int32 (k8s.io/api/autoscaling/v1 ScaleSpec).
MAX_REPLICAS = 2**31 - 1


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON ``{"error": ..., "field": ...}``."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def parse_number(value: Any, field: str, allow_null: bool = False, limit: float = math.inf) -> float:
    if value is None and allow_null:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{field} must be a number, got {type(value).__name__}", field)
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond float range
        number = math.inf
    if not math.isfinite(number):
        raise RequestError(f"{field} must be finite, got {value}", field)
    if abs(number) > limit:
        raise RequestError(f"{field} must be within ±{limit:g}, got {value}", field)
    return number


def parse_vector(value: Any, field: str, size: int, limit: float = FLOAT32_MAX) -> np.ndarray:
    if not isinstance(value, list):
        raise RequestError(f"{field} must be a list of {size} numbers, got {type(value).__name__}", field)
    if len(value) != size:
        raise RequestError(
            f"{field} must have {size} values (the observation layout), got {len(value)}", field
        )
    return np.array(
        [parse_number(v, f"{field}[{i}]", limit=limit) for i, v in enumerate(value)], dtype=np.float32
    )


def parse_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(f"{what} must be a JSON object, got {type(body).__name__}", None, 400)
    return body


def parse_signals(value: Any, field: str = "signals") -> ScalingSignals:
    """A ScalingSignals batch of one from a JSON object; null means unknown (NaN). Readings
    are counts, rates and fractions: a negative one is refused, not taken as no load."""
    if not isinstance(value, dict):
        raise RequestError(f"{field} must be an object with the ScalingSignals fields", field)
    obj: dict[str, Any] = value
    unknown = sorted(set(obj) - set(SIGNAL_FIELDS))
    if unknown:
        raise RequestError(
            f"{field}: unknown fields {unknown}; known: {list(SIGNAL_FIELDS)}", f"{field}.{unknown[0]}"
        )
    values: dict[str, float] = {"time_s": 0.0}
    for name in SIGNAL_FIELDS:
        if name in obj:
            values[name] = parse_number(obj[name], f"{field}.{name}", allow_null=name != "desired_replicas")
            if name != "time_s" and values[name] < 0:
                raise RequestError(f"{field}.{name} must be >= 0, got {obj[name]}", f"{field}.{name}")
        elif name != "time_s" and name not in OPTIONAL_SIGNAL_FIELDS:
            raise RequestError(f"{field}.{name} is required (null if unknown)", f"{field}.{name}")
    if values["desired_replicas"] > MAX_REPLICAS:
        raise RequestError(
            f"{field}.desired_replicas must be <= {MAX_REPLICAS} (int32, the scale's spec.replicas)",
            f"{field}.desired_replicas",
        )
    return ScalingSignals.single(**values)
