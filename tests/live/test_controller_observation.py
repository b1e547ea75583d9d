"""Issue 5 item 2: the live path builds exactly the observation the environments build.

The env is stepped with a fixed action sequence; each period's signals (what a policy would
read) are then served to the controller, which reads the replica count from its actuator,
builds ScalingSignals and the observation with ``core.ObservationBuilder`` as the live loop
does. The two vectors must be equal, period by period (including the trend history).
With ``metrics_source.PrometheusSource`` present, the signals also travel through a stub of
the Prometheus HTTP API, so the whole metrics → ScalingSignals → observation path is covered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlscale.controller.loop import Controller
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core import ManualClock, ScalingSignals
from rlscale.safety import Guard, GuardConfig

envs = pytest.importorskip("rlscale.envs", reason="rlscale.envs (the env path) is needed for the comparison")


class _Reading:
    def __init__(self, signals: ScalingSignals) -> None:
        self.signals = signals
        self.health: dict[str, bool] = {}


class _ReplaySource:
    """Serves the env's signals one period at a time (the metrics a Prometheus would hold)."""

    def __init__(self) -> None:
        self.current: ScalingSignals | None = None

    def read(self, namespace: str, deployment: str) -> _Reading:
        assert self.current is not None
        return _Reading(self.current)


class _ReplayActuator:
    def __init__(self) -> None:
        self.replicas = 1

    def get_replicas(self, namespace: str, name: str) -> int:
        return self.replicas

    def set_replicas(self, namespace: str, name: str, replicas: int) -> None:
        raise AssertionError("dry run: nothing is patched")


class _Hold:
    name = "hold"
    num_envs = 1

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def act(self, signals: ScalingSignals) -> np.ndarray:
        return np.asarray(signals.desired_replicas, dtype=np.int64)

    def reset(self, mask: np.ndarray | None = None) -> None:
        return None


def test_live_and_env_observations_are_identical() -> None:
    env = envs.AutoscaleVectorEnv(num_envs=1, service="web", episode_steps=60, action_mode="delta", seed=3)
    obs, _ = env.reset(seed=3)
    spec = env.spec_service
    source, actuator = _ReplaySource(), _ReplayActuator()
    controller = Controller(
        namespace="default",
        deployment="web",
        spec=spec,
        source=source,
        policy=_Hold(spec),
        guard=Guard(GuardConfig(spec.min_replicas, spec.max_replicas, dry_run=True)),
        actuator=actuator,
        clock=ManualClock(),
        metrics=ControllerMetrics(),
    )
    rng = np.random.default_rng(0)
    compared = 0
    for step in range(40):
        sig = env.signals
        assert sig is not None
        source.current = sig
        actuator.replicas = int(sig.desired_replicas[0])
        controller.reconcile_once()
        live = controller.last_observation
        assert live is not None
        np.testing.assert_array_equal(live, obs[0], err_msg=f"observation differs at step {step}")
        compared += 1
        action = np.asarray([int(rng.integers(env.single_action_space.n))])
        obs, _r, _term, trunc, _info = env.step(action)
        assert not trunc.any()
    assert compared == 40


def test_a_warmed_builder_continues_exactly_like_one_that_saw_every_period() -> None:
    """Restart parity: replaying the past rates (``warm``) leaves the builder in the state
    ``build`` would have left it in, so the first observation after a restart is the one the
    old controller would have built."""
    from rlscale.core import ObservationBuilder, ServiceSpec

    spec = ServiceSpec(name="w", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=1, max_replicas=20)
    rates = np.random.default_rng(3).gamma(2.0, 20.0, size=(300, 2))
    rates[40:45, 0] = 400.0  # a burst to remember

    def sig(row: np.ndarray) -> ScalingSignals:
        n = row.shape[0]
        return ScalingSignals(
            time_s=np.zeros(n),
            desired_replicas=np.full(n, 6.0),
            ready_replicas=np.full(n, 6.0),
            pending_replicas=np.zeros(n),
            request_rate_rps=row,
            cpu_utilization=np.full(n, 0.5),
            latency_p95_s=np.full(n, 0.1),
            backlog_requests=np.zeros(n),
            dropped_rps=np.zeros(n),
        )

    always = ObservationBuilder(spec, 2)
    for row in rates[:-1]:
        always.build(sig(row))
    restarted = ObservationBuilder(spec, 2)
    with_gaps = rates[:-1].copy()
    assert restarted.warm(np.vstack([np.full((3, 2), np.nan), with_gaps])) == len(with_gaps)
    np.testing.assert_array_equal(restarted.build(sig(rates[-1])), always.build(sig(rates[-1])))
    with pytest.raises(ValueError, match="shape"):
        restarted.warm(rates.T)  # (n, T) instead of (T, n)
    # a missing period repeats the previous rate
    gap = ObservationBuilder(spec, 1)
    gap.warm(np.array([10.0, np.nan, 30.0]))
    same = ObservationBuilder(spec, 1)
    same.warm(np.array([10.0, 10.0, 30.0]))
    np.testing.assert_array_equal(gap.build(sig(np.array([20.0]))), same.build(sig(np.array([20.0]))))
