"""Chaos for the live loop (issue 14): the real Controller, guard, HPA fallback, ScaleActuator
(its retries included) and the operator's deletion gate, on a manual clock, against a fake
API server and metrics source that fail on a schedule Hypothesis draws: Prometheus down, slow
(timed out) or NaN; the API server hung, answering 409 or 500; the policy server down; the
custom resource deleted. Properties:

- the scale is always within [min, max];
- every period with a fault carries a reason naming it (FailedGetMetrics, StaleMetrics,
  FailedGetScale, FailedRescale, PolicyError);
- through a metrics outage the last good count is held, for >= 180 s (KEDA's fallback test);
- no scale write after the custom resource is deleted;
- once the faults clear, the loop decides from fresh metrics again and settles where the
  HPA settles.

The schedule runs in simulated time (15 s periods), so a 20-minute scenario takes milliseconds."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.reliability.cli_harness import COUNTS

from rlscale.controller.actuator import ScaleActuator
from rlscale.controller.app import load_policy
from rlscale.controller.gated_actuator import DeletionGatedActuator
from rlscale.controller.loop import Controller
from rlscale.controller.metrics_source import SignalHealth, SourceReading
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core import ManualClock, ScalingSignals, ServiceSpec
from rlscale.prometheus.client import PrometheusError
from rlscale.safety.guard import Guard, GuardConfig, as_replica_count

pytest.importorskip("kubernetes")

PERIOD_S = 15.0
MIN_REPLICAS, MAX_REPLICAS = 2, 12
CAPACITY_RPS = 100.0
LOAD_RPS = 430.0  # the HPA at 80 % settles at 6 pods
SPEC = ServiceSpec(
    "web",
    pod_capacity_rps=CAPACITY_RPS,
    slo_latency_s=0.5,
    min_replicas=MIN_REPLICAS,
    max_replicas=MAX_REPLICAS,
)
#: fault -> the reason code a period under it must carry
METRICS_FAULTS = {
    "prometheus_down": "FailedGetMetrics",
    "prometheus_slow": "StaleMetrics",
    "metrics_nan": "StaleMetrics",
}
API_FAULTS = {"api_hung": "FailedGetScale", "api_409": "FailedRescale", "api_500": "FailedRescale"}
FAULTS = {**METRICS_FAULTS, **API_FAULTS, "policy_server_down": "PolicyError"}
OUTAGE_HOLD_S = 180.0


class World:
    """The fake cluster and Prometheus, with the fault of the current period."""

    def __init__(self, clock: ManualClock, replicas: int) -> None:
        self.clock = clock
        self.replicas = replicas
        self.resource_version = 1
        self.fault: str | None = None
        self.deleted = False
        self.writes: list[tuple[float, int]] = []

    # -- apps/v1 deployments/scale (what ScaleActuator calls) --------------------------------
    def _fail(self, call: str) -> None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import ReadTimeoutError

        if self.fault == "api_hung":
            raise ReadTimeoutError(None, "/apis/apps/v1/...", "Read timed out.")  # type: ignore[arg-type]
        if call == "patch" and self.fault == "api_409":
            raise ApiException(status=409, reason="Conflict")
        if call == "patch" and self.fault == "api_500":
            raise ApiException(status=500, reason="Internal Server Error")

    def read_namespaced_deployment_scale(self, name: str, namespace: str, **_: Any) -> Any:
        self._fail("read")
        return SimpleNamespace(
            spec=SimpleNamespace(replicas=self.replicas),
            metadata=SimpleNamespace(resource_version=str(self.resource_version)),
        )

    def patch_namespaced_deployment_scale(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        self._fail("patch")
        from kubernetes.client.exceptions import ApiException

        if body["metadata"]["resourceVersion"] != str(self.resource_version):
            raise ApiException(status=409, reason="Conflict")
        self.replicas = int(body["spec"]["replicas"])
        self.resource_version += 1
        self.writes.append((self.clock.now(), self.replicas))
        return self.read_namespaced_deployment_scale(name, namespace)

    # -- Prometheus -------------------------------------------------------------------------
    def read(self, namespace: str, deployment: str) -> SourceReading:
        if self.fault == "prometheus_down":
            raise PrometheusError("connection_error", "[Errno 111] Connection refused")
        util = LOAD_RPS / (self.replicas * CAPACITY_RPS)
        values = {
            "time_s": self.clock.now(),
            "desired_replicas": float(self.replicas),
            "ready_replicas": float(self.replicas),
            "pending_replicas": 0.0,
            "request_rate_rps": LOAD_RPS,
            "cpu_utilization": util,
            "latency_p95_s": 0.1,
            "backlog_requests": 0.0,
            "dropped_rps": 0.0,
        }
        health = {name: SignalHealth(ok=True) for name in values if name != "time_s"}
        if self.fault in ("prometheus_slow", "metrics_nan"):
            reason = "timeout" if self.fault == "prometheus_slow" else "nan"
            for name in ("request_rate_rps", "cpu_utilization"):
                values[name] = math.nan
                health[name] = SignalHealth(ok=False, reason=reason)
        return SourceReading(signals=ScalingSignals.single(**values), health=health)


class PolicyServer:
    """The served policy (the HPA), unreachable while the world's fault says so."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.inner = load_policy("hpa", SPEC)
        self.name, self.spec, self.num_envs = "remote:hpa", SPEC, 1

    def act(self, signals: ScalingSignals) -> np.ndarray:
        if self.world.fault == "policy_server_down":
            from rlscale.controller.client import PolicyServerError

            raise PolicyServerError("policy server /v1/act: <urlopen error [Errno 111] Connection refused>")
        return self.inner.act(signals)

    def reset(self, mask: Any = None) -> None:
        self.inner.reset(mask)


def controller(world: World, clock: ManualClock) -> Controller:
    actuator = ScaleActuator(
        world, min_replicas=MIN_REPLICAS, max_replicas=MAX_REPLICAS, max_attempts=3, sleep=clock.advance
    )
    return Controller(
        namespace="default",
        deployment="web",
        spec=SPEC,
        source=world,
        policy=PolicyServer(world),
        guard=Guard(GuardConfig(MIN_REPLICAS, MAX_REPLICAS)),
        actuator=DeletionGatedActuator(
            actuator, lambda: "the RLAutoscaler is deleted" if world.deleted else None
        ),
        clock=clock,
        metrics=ControllerMetrics(),
        fallback=load_policy("hpa", SPEC),
    )


segments = st.lists(
    st.tuples(st.sampled_from(sorted(FAULTS)), st.integers(1, 20)),
    min_size=1,
    max_size=6,
)


@given(
    schedule=segments,
    start=st.integers(MIN_REPLICAS, MAX_REPLICAS),
    delete_at=st.one_of(st.none(), st.integers(0, 80)),
)
def test_the_live_loop_survives_every_fault(
    schedule: list[tuple[str, int]], start: int, delete_at: int | None
) -> None:
    clock = ManualClock(1_000.0)
    world = World(clock, start)
    loop = controller(world, clock)
    plan: list[str | None] = [None] * 4  # a few good periods first: a last good count exists
    for fault, periods in schedule:
        plan += [fault] * periods
    plan += [None] * 60  # 15 min without faults: recovery
    deleted_from = None
    held_since: tuple[float, int] | None = None

    for i, fault in enumerate(plan):
        if delete_at is not None and i == delete_at:
            world.deleted, deleted_from = True, clock.now()
        world.fault = fault
        before = world.replicas
        decision = loop.reconcile_once()
        codes = {r.code for r in decision.reasons}
        if fault is not None:
            COUNTS[f"chaos.{fault}"] += 1

        # 1. always within the bounds
        assert MIN_REPLICAS <= world.replicas <= MAX_REPLICAS, (i, fault, world.replicas)
        # 2. a fault that touched this period is named
        if fault in METRICS_FAULTS or fault == "policy_server_down" or fault == "api_hung":
            assert FAULTS[fault] in codes, (i, fault, codes)
        elif (
            fault in API_FAULTS and decision.final_replicas != decision.current_replicas and not world.deleted
        ):
            assert "FailedRescale" in codes, (i, fault, codes)
        if world.deleted and decision.final_replicas != decision.current_replicas and fault != "api_hung":
            assert "FailedRescale" in codes and "deleted" in str(decision.reasons)
        # 3. a metrics outage holds the last good count
        if fault in METRICS_FAULTS:
            assert world.replicas == before, (i, fault)
            held_since = held_since or (clock.now(), before)
            assert world.replicas == held_since[1]
        else:
            held_since = None
        clock.advance(PERIOD_S)

    # 4. nothing written after the deletion
    if deleted_from is not None:
        assert [w for w in world.writes if w[0] >= deleted_from] == []
        return
    # 5. recovered: fresh decisions, and the count the HPA settles at
    last = loop.last_decision
    assert last is not None and not {r.code for r in last.reasons} & set(FAULTS.values())
    assert hpa_settled(world.replicas), world.replicas


def hpa_settled(replicas: int) -> bool:
    """The HPA (80 %, tolerance 0.1, integer percent) proposes ``replicas`` itself at LOAD_RPS."""
    util_pct = math.floor(100 * LOAD_RPS / (replicas * CAPACITY_RPS))
    ratio = util_pct / 80
    proposal = replicas if abs(ratio - 1) <= 0.1 else math.ceil(ratio * replicas)
    return min(max(proposal, MIN_REPLICAS), MAX_REPLICAS) == replicas


def test_a_metrics_outage_holds_the_last_good_count_for_180_s_and_more() -> None:
    """KEDA's fallback test, spelt out: 20 periods (300 s) without Prometheus."""
    clock = ManualClock(1_000.0)
    world = World(clock, 3)
    loop = controller(world, clock)
    for _ in range(8):  # scales up towards 6 from fresh metrics
        loop.reconcile_once()
        clock.advance(PERIOD_S)
    good = world.replicas
    assert good > 3
    world.fault = "prometheus_down"
    held_s = 0.0
    while held_s < 300.0:
        decision = loop.reconcile_once()
        assert world.replicas == good and "FailedGetMetrics" in {r.code for r in decision.reasons}
        clock.advance(PERIOD_S)
        held_s += PERIOD_S
    assert held_s >= OUTAGE_HOLD_S
    world.fault = None
    decision = loop.reconcile_once()
    assert not {r.code for r in decision.reasons} & {"FailedGetMetrics", "StaleMetrics"}


wild_answers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.just("7"),
    st.lists(st.integers(0, 50), min_size=0, max_size=3),
)


@given(answers=st.lists(wild_answers, min_size=1, max_size=30), start=st.integers(MIN_REPLICAS, MAX_REPLICAS))
def test_client_mode_any_server_answer_stays_within_bounds(answers: list[Any], start: int) -> None:
    """Client mode (``rlscale run --server``): whatever the policy server answers, the
    controller's guard keeps the written count in [min, max] and names each refusal."""
    clock = ManualClock(1_000.0)
    world = World(clock, start)
    loop = controller(world, clock)

    class WildServer:
        name, spec, num_envs = "remote:wild", SPEC, 1
        answer: Any = None

        def act(self, signals: ScalingSignals) -> Any:
            return self.answer

        def reset(self, mask: Any = None) -> None:
            return None

    loop.policy = server = WildServer()
    for answer in answers:
        server.answer = answer
        decision = loop.reconcile_once()
        COUNTS["chaos.wild_policy_answer"] += 1
        assert MIN_REPLICAS <= world.replicas <= MAX_REPLICAS
        proposal, _ = as_replica_count(answer)
        codes = {r.code for r in decision.reasons}
        if proposal is None:
            assert "InvalidProposal" in codes, (answer, decision)
        elif decision.final_replicas != proposal:
            assert codes, (answer, decision)  # clamped, stabilised or rate-limited: said so
        clock.advance(PERIOD_S)
