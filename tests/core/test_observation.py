"""The observation builder on metrics a broken exporter can send."""

from __future__ import annotations

import warnings

import numpy as np

from rlscale.core.observation import OBSERVATION_FEATURES, ObservationBuilder, observation_bounds
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


def test_a_metric_beyond_float32_range_is_clipped_without_a_warning() -> None:
    """A 1.7e38-s latency overflows float32 on the way in (found by the policy server's schema
    fuzzing): the feature is clipped to its bound, finite, and nothing is warned per period."""
    spec = ServiceSpec(name="svc", pod_capacity_rps=10.0, slo_latency_s=0.2)
    builder = ObservationBuilder(spec, 1)
    signals = ScalingSignals.single(
        time_s=0.0,
        desired_replicas=2.0,
        ready_replicas=2.0,
        pending_replicas=0.0,
        request_rate_rps=5.0,
        cpu_utilization=0.3,
        latency_p95_s=1.7014117838986683e38,
        backlog_requests=0.0,
        dropped_rps=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        obs = builder.build(signals)
    low, high = observation_bounds()
    assert np.all(np.isfinite(obs)) and np.all(obs >= low) and np.all(obs <= high)
    latency = OBSERVATION_FEATURES.index("latency_p95_slo")
    assert obs[0, latency] == high[latency]  # at its bound
