"""The operator's small parts on their own: the write gates, the thread runner and the
CR-field error mapping."""

from __future__ import annotations

import threading

import pytest

from rlscale.controller.gated_actuator import (
    CustomResourceGoneError,
    DeletionGatedActuator,
    LeaderGatedActuator,
    NotLeaderError,
)
from rlscale.controller.operator_thread import BackgroundRun


class RecordingActuator:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, int]] = []
        self.dry_run = False

    def get_replicas(self, namespace: str, name: str) -> int:
        return 3

    def set_replicas(self, namespace: str, name: str, replicas: int) -> int:
        self.writes.append((namespace, name, replicas))
        return replicas


def test_leader_gate_refuses_writes_from_a_follower_and_passes_reads() -> None:
    inner = RecordingActuator()
    leading = [False]
    gated = LeaderGatedActuator(inner, lambda: leading[0])
    assert gated.get_replicas("ns", "web") == 3
    with pytest.raises(NotLeaderError, match=r"refusing to scale ns/web to 5: not the leader"):
        gated.set_replicas("ns", "web", 5)
    assert inner.writes == []
    leading[0] = True
    assert gated.set_replicas("ns", "web", 5) == 5
    assert inner.writes == [("ns", "web", 5)]
    assert gated.dry_run is False  # everything else is the inner actuator's


def test_deletion_gate_names_why_the_cr_may_not_scale() -> None:
    inner = RecordingActuator()
    why: list[str | None] = ["the RLAutoscaler is deleted"]
    gated = DeletionGatedActuator(inner, lambda: why[0])
    with pytest.raises(CustomResourceGoneError, match="the RLAutoscaler is deleted"):
        gated.set_replicas("ns", "web", 2)
    why[0] = None
    gated.set_replicas("ns", "web", 2)
    assert inner.writes == [("ns", "web", 2)]


def test_runner_surfaces_a_start_up_failure_and_stops_on_the_flag() -> None:
    ready, stop = threading.Event(), threading.Event()

    def fails() -> None:
        raise OSError("port in use")

    runner = BackgroundRun(fails, ready=ready, stop=stop, name="operator x")
    with pytest.raises(RuntimeError, match="operator x failed to start: port in use"):
        runner.start(timeout_s=5)
    assert isinstance(runner.error, OSError)

    ready, stop = threading.Event(), threading.Event()

    def serves() -> None:
        ready.set()
        stop.wait()

    runner = BackgroundRun(serves, ready=ready, stop=stop, name="operator y")
    runner.start(timeout_s=5)
    assert runner.alive and runner.error is None
    runner.stop(timeout_s=5)
    assert not runner.alive


def test_run_config_errors_name_the_cr_fields() -> None:
    from rlscale.controller.crd import spec_problems
    from rlscale.controller.run_config import RunConfig

    bad = RunConfig(
        namespace="default",
        deployment="web",
        prometheus_url="http://prom:9090",
        min_replicas=-1,
        max_replicas=5,
        stabilization_window_s=4000,
    )
    with pytest.raises(ValueError) as exc:
        bad.validate()
    problems = spec_problems(exc.value)
    assert any(p.startswith("spec.minReplicas must be >= 0") for p in problems), problems
    assert any(p.startswith("spec.behavior.scaleDownStabilizationSeconds") for p in problems), problems
    assert not any("--" in p for p in problems), problems
