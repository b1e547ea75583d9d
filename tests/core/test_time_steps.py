"""The one seconds-to-steps rounding: whole periods, exact multiples not rounded up."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.core.time_steps import seconds_to_steps


@pytest.mark.parametrize(
    ("seconds", "step_s", "steps"),
    [
        (0.0, 15.0, 0),
        (45.0, 15.0, 3),  # an exact multiple stays
        (45.0 + 1e-6, 15.0, 4),  # a little more is one more period
        (46.0, 15.0, 4),
        (0.1 + 0.2, 0.1, 3),  # 3.0000000000000004 periods of float noise is still 3
        (61.0, 15.0, 5),
        (30.0, 2.0, 15),
    ],
)
def test_scalar_rounds_up_to_whole_periods(seconds: float, step_s: float, steps: int) -> None:
    got = seconds_to_steps(seconds, step_s)
    assert got == steps
    assert type(got) is int


def test_array_matches_the_scalar_elementwise() -> None:
    delays = np.array([[0.0, 29.999, 30.0], [45.0, 59.0, 60.0 + 1e-12]])
    got = seconds_to_steps(delays, 15.0)
    assert got.dtype == np.int64 and got.shape == delays.shape
    assert got.tolist() == [[seconds_to_steps(float(d), 15.0) for d in row] for row in delays]
    assert got.tolist() == [[0, 2, 2], [3, 4, 4]]


def test_callers_share_it() -> None:
    """The spec, the budget windows and the simulator's ring size all count periods alike."""
    from rlscale.core.slo_budget import window_steps
    from rlscale.core.spec import ServiceSpec
    from rlscale.sim.params import ServiceParams

    spec = ServiceSpec(name="s", pod_capacity_rps=10.0, slo_latency_s=0.5, step_s=15.0, startup_delay_s=45.0)
    assert spec.startup_delay_steps == 3
    assert window_steps(45.0, 15.0) == 3 and window_steps(1.0, 15.0) == 1
    params = ServiceParams(spec=spec, startup_delay_min_s=30.0, startup_delay_max_s=60.0)
    assert params.max_startup_steps() == 4
