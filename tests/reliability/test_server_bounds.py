"""The policy server never answers outside [min, max] (issue 14, cases 2 and 3), whatever
the served policy returns and whatever the request holds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlscale.controller.app import load_policy
from rlscale.controller.online_learner import LinearQPolicy
from rlscale.controller.server import PolicyService
from rlscale.controller.server_requests import MAX_EXPERIENCE_MAGNITUDE, RequestError
from rlscale.core import ServiceSpec, observation_size
from rlscale.core.clock import ManualClock

SPEC = ServiceSpec("served", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=2, max_replicas=6)
D = observation_size()


def signals(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "desired_replicas": 2,
        "ready_replicas": 2,
        "pending_replicas": 0,
        "request_rate_rps": 20.0,
        "cpu_utilization": 0.5,
        "latency_p95_s": None,
        "backlog_requests": 0,
        "dropped_rps": 0,
    }
    values.update(overrides)
    return values


def served(policy: str, clock: ManualClock | None = None) -> PolicyService:
    return PolicyService(SPEC, policy_factory=lambda: load_policy(policy, SPEC), clock=clock or ManualClock())


def test_a_policy_outside_the_bounds_is_clamped_and_says_so() -> None:
    answer = served("static:replicas=100").act({"signals": signals()})
    assert answer["desired_replicas"] == 6
    assert "TooManyReplicas" in {r["code"] for r in answer["reasons"]}
    answer = served("static:replicas=0").act({"signals": signals(desired_replicas=4)})
    assert answer["desired_replicas"] == 2
    assert "TooFewReplicas" in {r["code"] for r in answer["reasons"]}


def test_the_hpa_without_time_s_follows_the_load_on_the_servers_clock() -> None:
    """Requests without ``time_s`` were all at t=0: the HPA was never due again and echoed
    the request's ``desired_replicas`` (1, 100, 0 ...)."""
    clock = ManualClock()
    service = served("hpa", clock)
    answers = []
    for current in (2, 3, 4, 5):
        answers.append(service.act({"signals": signals(desired_replicas=current, cpu_utilization=3.0)}))
        clock.advance(15.0)
    finals = [a["desired_replicas"] for a in answers]
    assert finals[-1] == 6 and all(2 <= f <= 6 for f in finals), finals
    high = service.act({"signals": signals(desired_replicas=100, cpu_utilization=0.5)})
    assert 2 <= high["desired_replicas"] <= 6


@pytest.mark.parametrize("desired", [1e300, 2**31, -1])
def test_out_of_range_counts_are_refused(desired: float) -> None:
    with pytest.raises(RequestError, match=r"signals\.desired_replicas"):
        served("hpa").act({"signals": signals(desired_replicas=desired)})


@pytest.mark.parametrize("field", ["cpu_utilization", "request_rate_rps", "ready_replicas"])
def test_negative_readings_are_refused(field: str) -> None:
    with pytest.raises(RequestError, match=rf"signals\.{field} must be >= 0"):
        served("hpa").act({"signals": signals(**{field: -0.5})})


class Wild:
    """A policy whose answers are anything at all (the property test draws them)."""

    name = "wild"
    spec = SPEC
    num_envs = 1

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def act(self, _signals: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def reset(self, mask: Any = None) -> None:
        return None


@pytest.mark.parametrize("answer", [float("inf"), float("-inf"), float("nan"), -1, 2.5, "7", None])
def test_a_policy_answering_garbage_is_held_with_a_reason(answer: object) -> None:
    service = PolicyService(SPEC, policy_factory=lambda: Wild(answer), clock=ManualClock())
    out = service.act({"signals": signals(desired_replicas=4)})
    assert out["desired_replicas"] == 4
    assert "InvalidProposal" in {r["code"] for r in out["reasons"]}


wild_answers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(0, 10), max_size=3).map(np.asarray),
    st.just(RuntimeError("boom")),
)


@given(
    answers=st.lists(wild_answers, min_size=1, max_size=6),
    currents=st.lists(st.integers(0, 2**31 - 1), min_size=6, max_size=6),
    steps_s=st.lists(st.floats(0, 120), min_size=6, max_size=6),
)
def test_property_every_answer_is_within_bounds_and_every_hold_is_named(
    answers: list[Any], currents: list[int], steps_s: list[float]
) -> None:
    clock = ManualClock()
    holder = Wild(None)
    service = PolicyService(SPEC, policy_factory=lambda: holder, clock=clock)
    for answer, current, step_s in zip(answers, currents, steps_s, strict=False):
        holder.answer = answer
        out = service.act({"signals": signals(desired_replicas=current), "target": "t"})
        assert SPEC.min_replicas <= out["desired_replicas"] <= SPEC.max_replicas
        if out["desired_replicas"] != current:
            assert out["reasons"] or out["desired_replicas"] == answer, out
        clock.advance(step_s)


def test_online_answers_are_bounded_and_rate_limited() -> None:
    online = LinearQPolicy(D)
    online.weights[-1, -1] = 1.0  # always the largest delta (+2)
    service = PolicyService(SPEC, online=online, clock=ManualClock())
    obs = [0.5] * D
    assert service.act({"observation": obs, "current_replicas": 6})["desired_replicas"] == 6
    assert service.act({"observation": obs, "current_replicas": 0})["desired_replicas"] == 2


def test_one_extreme_experience_is_refused_and_learning_goes_on() -> None:
    service = PolicyService(SPEC, online=LinearQPolicy(D), clock=ManualClock())
    good = {"obs": [0.5] * D, "action": 3, "reward": 1.0, "next_obs": [0.5] * D, "done": False}
    with pytest.raises(RequestError, match=r"experiences\[0\]\.obs\[0\] must be within"):
        service.log_returns({"experiences": [good | {"obs": [1e30] * D}]})
    with pytest.raises(RequestError, match=r"experiences\[0\]\.reward must be within"):
        service.log_returns({"experiences": [good | {"reward": 1.7e308}]})
    assert len(service.buffer) == 0
    service.log_returns({"experiences": [good] * 20})
    assert service.update() and service.online.version == 1
    assert service.health()["status"] == "ok"
    # at the limit the fit still works; were it to fail, health says so instead of "ok"
    edge = good | {"reward": MAX_EXPERIENCE_MAGNITUDE}
    service.log_returns({"experiences": [edge]})
    service.update()
    assert np.all(np.isfinite(service.online.weights))


def test_health_is_degraded_while_updates_fail() -> None:
    service = PolicyService(SPEC, online=LinearQPolicy(D), clock=ManualClock())
    good = {"obs": [0.5] * D, "action": 3, "reward": 1.0, "next_obs": [0.5] * D, "done": False}
    service.log_returns({"experiences": [good]})
    service.buffer[0] = service.buffer[0].__class__(
        obs=np.full(D, 3e38, dtype=np.float32), action=3, reward=1.0, next_obs=np.zeros(D), done=False
    )
    with pytest.raises((FloatingPointError, np.linalg.LinAlgError)):
        service.update()  # the periodic updater catches both and keeps the previous policy
    health = service.health()
    assert health["status"] == "degraded" and health["last_update_error"]
    service.buffer.clear()
    service.log_returns({"experiences": [good] * 5})
    assert service.update() and service.health()["status"] == "ok"  # recovers when the data does
