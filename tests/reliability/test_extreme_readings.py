"""Extreme and negative metric readings (issue 14, case 5): a CPU reading too large for
int64 millicores is still a high load, and a negative CPU or request rate is not healthy."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.controller.loop import stale_signals_of
from rlscale.core import ScalingSignals, ServiceSpec
from rlscale.policies.hpa import HPAPolicy

SPEC = ServiceSpec("web", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=1, max_replicas=20)


def one(**overrides: float) -> ScalingSignals:
    values = dict(
        time_s=0.0,
        desired_replicas=4.0,
        ready_replicas=4.0,
        pending_replicas=0.0,
        request_rate_rps=40.0,
        cpu_utilization=0.5,
        latency_p95_s=0.1,
        backlog_requests=0.0,
        dropped_rps=0.0,
    )
    values.update(overrides)
    return ScalingSignals.single(**values)


@pytest.mark.parametrize("cpu", [2e16, 1e300, np.inf])
def test_the_hpa_reads_an_enormous_cpu_reading_as_high_load(cpu: float) -> None:
    hpa = HPAPolicy(SPEC)
    proposal = int(hpa.act(one(cpu_utilization=cpu))[0])
    if np.isfinite(cpu):
        assert proposal > 4  # scales up (as far as its rate limit lets it), not "no load"
    else:
        assert proposal == 4  # not a number: a failed metric, nothing done


@pytest.mark.parametrize("field", ["cpu_utilization", "request_rate_rps", "ready_replicas", "latency_p95_s"])
def test_negative_readings_are_unhealthy(field: str) -> None:
    class Reading:
        signals = one(**{field: -1.0})

    assert stale_signals_of(Reading()) == (field,)
