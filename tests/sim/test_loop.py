"""The one rollout loop over the Simulator seam (issue 12): every variant's run totals are the
sums of its per-step request counts, and its SLO violation rate is core.slo_budget's
(violating + dropped) / offered, whatever the variant."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rlscale.core.slo_budget import slo_violation_rate
from rlscale.core.vertical import VerticalAction, VerticalSignals
from rlscale.sim import pools as ps
from rlscale.sim import vertical as vs
from rlscale.sim.loop import Simulator, run
from rlscale.sim.presets import get_preset
from rlscale.sim.variants import HorizontalSim, PoolsSim, VerticalSim, warm_start_replicas

WEB = get_preset("web")
STEPS = 120


def _steep(peak: float, n: int) -> np.ndarray:
    """(n, STEPS) loads that jump between 10 % and 100 % of ``peak``: some requests fail."""
    t = np.arange(STEPS)
    return np.stack([peak * (0.1 + 0.9 * ((t // (15 + 5 * k)) % 2)) for k in range(n)])


def _horizontal() -> tuple[HorizontalSim, Callable]:
    rates = _steep(0.9 * WEB.spec.pod_capacity_rps * WEB.spec.max_replicas, 3).T
    sim = HorizontalSim(WEB, rates, warm_start_replicas(rates[0], WEB.spec))
    return sim, lambda sig: np.maximum(np.asarray(sig.ready_replicas, dtype=np.int64), 1)


def _vertical() -> tuple[VerticalSim, Callable]:
    params = vs.teastore_vertical()

    def act(sig: VerticalSignals) -> VerticalAction:  # a fixed small template
        n = sig.num_envs
        return VerticalAction(np.full(n, 2, dtype=np.int64), np.full(n, 0.5), np.full(n, 500.0))

    return VerticalSim(params, _steep(80.0, 2), (2, 0.5, 500.0)), act


def _pools() -> tuple[PoolsSim, Callable]:
    return PoolsSim(ps.pools_preset(), _steep(150.0, 1)[0], (1, 1)), lambda sig: (
        np.array([[1, 1]]),
        np.array([1]),
    )


@pytest.mark.parametrize("make", [_horizontal, _vertical, _pools], ids=["horizontal", "vertical", "pools"])
def test_totals_are_the_step_counts_summed(make: Callable[[], tuple[Simulator, Callable]]) -> None:
    simulator, act = make()
    seen: list[int] = []
    counts = []

    def record(t: int, sig: object, action: object, m: object, state: object) -> None:
        seen.append(t)
        counts.append(simulator.metrics(m))

    totals = run(simulator, act, np.random.default_rng(5), record).totals

    assert seen == list(range(simulator.steps))
    offered = sum(c.offered for c in counts)
    failed = sum(c.violating + c.dropped for c in counts)
    np.testing.assert_allclose(totals.offered, offered)
    np.testing.assert_allclose(totals.slo_failures, failed)
    np.testing.assert_allclose(totals.cost_usd, sum(c.cost_usd for c in counts))
    np.testing.assert_allclose(totals.pod_seconds, sum(c.pod_seconds for c in counts))
    assert totals.violation_rate == pytest.approx(float(slo_violation_rate(failed, 0.0, offered)))
    assert 0.0 < totals.violation_rate < 1.0  # the steep load does make requests fail


def test_warm_start_sizes_for_the_first_rate() -> None:
    # 0.7 of a pod's capacity each (the HPA's common target): 10 pods' worth at 70 % -> 10 pods
    rate = np.array([0.0, 7.0 * WEB.spec.pod_capacity_rps, 7.0 * WEB.spec.pod_capacity_rps + 1.0])
    assert warm_start_replicas(rate, WEB.spec).tolist() == [0.0, 10.0, 11.0]


def test_horizontal_blocks_replay_one_load() -> None:
    rates = _steep(0.9 * WEB.spec.pod_capacity_rps * WEB.spec.max_replicas, 2).T
    one = HorizontalSim(WEB, rates, warm_start_replicas(rates[0], WEB.spec))
    tiled = HorizontalSim(WEB, rates, warm_start_replicas(rates[0], WEB.spec), blocks=3)
    assert tiled.num_envs == 6
    seen = []
    run(
        tiled,
        lambda sig: np.full(sig.num_envs, 4, dtype=np.int64),
        np.random.default_rng(0),
        lambda t, sig, a, m, s: seen.append(m.arrival_rate_rps.copy()),
    )
    np.testing.assert_array_equal(seen[7], np.tile(rates[7], 3))
    assert one.num_envs == 2
