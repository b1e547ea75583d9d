"""Shared vocabulary of every layer: service spec, scaling signals, observation layout,
decisions with reasons, clocks and seeding. NumPy only, so the live image stays small."""

from rlscale.core.clock import Clock, ManualClock, SystemClock
from rlscale.core.decision import Decision, Reason
from rlscale.core.observation import (
    OBSERVATION_FEATURES,
    ObservationBuilder,
    observation_bounds,
    observation_size,
)
from rlscale.core.seeding import make_rng
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec

__all__ = [
    "OBSERVATION_FEATURES",
    "Clock",
    "Decision",
    "ManualClock",
    "ObservationBuilder",
    "Reason",
    "ScalingSignals",
    "ServiceSpec",
    "SystemClock",
    "make_rng",
    "observation_bounds",
    "observation_size",
]
