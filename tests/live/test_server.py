"""The policy server over real HTTP on loopback: act, log_returns, online learning, auth,
malformed requests, and the client used by ``rlscale run --server``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rlscale.controller.client import PolicyClient, PolicyServerError, RemotePolicy, validate_http_url
from rlscale.controller.online_learner import Experience, LinearQPolicy
from rlscale.controller.server import BackgroundServer, PolicyService, make_app
from rlscale.controller.server_openapi import openapi_spec
from rlscale.core import OBSERVATION_FEATURES, ScalingSignals, ServiceSpec, observation_size

SPEC = ServiceSpec(name="web", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=1, max_replicas=10)
D = observation_size()
SIGNALS = {
    "time_s": 0.0,
    "desired_replicas": 4,
    "ready_replicas": 4,
    "pending_replicas": 0,
    "request_rate_rps": 60.0,
    "cpu_utilization": 0.9,
    "latency_p95_s": None,
    "backlog_requests": 0,
    "dropped_rps": 0,
}


class ThresholdPolicy:
    """A stand-in signals policy: one replica per 10 rps."""

    name = "threshold"
    spec = SPEC
    num_envs = 1

    def act(self, signals: ScalingSignals) -> np.ndarray:
        return np.ceil(np.asarray(signals.request_rate_rps) / 10.0).astype(np.int64)

    def reset(self, mask: np.ndarray | None = None) -> None:
        return None


def _raw(
    url: str, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None
) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def online_server() -> Iterator[tuple[BackgroundServer, PolicyService]]:
    service = PolicyService(SPEC, online=LinearQPolicy(D))
    with BackgroundServer(make_app(service, update_interval_s=0.05)) as server:
        yield server, service


@pytest.fixture
def policy_server() -> Iterator[BackgroundServer]:
    service = PolicyService(SPEC, policy_factory=ThresholdPolicy)
    with BackgroundServer(make_app(service, token="s3cret")) as server:
        yield server


def test_binds_loopback_and_serves_health_and_openapi(online_server: Any) -> None:
    server, _ = online_server
    assert server.host == "127.0.0.1"
    status, health = _raw(server.url, "/healthz")
    assert status == 200 and health["status"] == "ok" and health["policy"] == "online-linear-q"
    status, spec = _raw(server.url, "/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    assert {"/v1/act", "/v1/log_returns", "/healthz"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["Observation"]["minItems"] == D
    assert spec == json.loads(json.dumps(openapi_spec()))


def test_act_with_signals_on_a_signals_policy_and_bearer_token(policy_server: BackgroundServer) -> None:
    status, body = _raw(policy_server.url, "/v1/act", {"signals": SIGNALS})
    assert status == 401 and "bearer" in body["error"]
    status, body = _raw(policy_server.url, "/v1/act", {"signals": SIGNALS}, token="wrong")
    assert status == 401
    status, body = _raw(
        policy_server.url, "/v1/act", {"signals": SIGNALS, "target": "ns/web"}, token="s3cret"
    )
    assert status == 200 and body["desired_replicas"] == 6 and body["action_space"] == "replicas"
    assert body["policy"] == "threshold"
    status, body = _raw(policy_server.url, "/v1/act", {"observation": [0.0] * D}, token="s3cret")
    assert status == 422 and body["field"] == "signals"
    assert _raw(policy_server.url, "/healthz")[0] == 200  # health stays open for probes


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (json.dumps({}).encode(), 422, "observation"),
        (json.dumps({"observation": [0.0] * (D - 1)}).encode(), 422, "observation"),
        (json.dumps({"observation": [0.0] * (D - 1) + ["x"]}).encode(), 422, f"observation[{D - 1}]"),
        (json.dumps({"signals": {**SIGNALS, "cpu": 1}}).encode(), 422, "signals.cpu"),
        (
            json.dumps({"signals": {k: v for k, v in SIGNALS.items() if k != "ready_replicas"}}).encode(),
            422,
            "signals.ready_replicas",
        ),
        (json.dumps({"signals": SIGNALS, "current_replicas": -1}).encode(), 422, "current_replicas"),
        (json.dumps({"signals": SIGNALS, "bogus": 1}).encode(), 422, "bogus"),
        (json.dumps({"signals": SIGNALS, "target": ""}).encode(), 422, "target"),
    ],
)
def test_malformed_act_is_a_4xx_naming_the_field_and_the_server_keeps_serving(
    online_server: Any, payload: bytes, status: int, field: str | None
) -> None:
    server, _ = online_server
    got, body = _raw(server.url, "/v1/act", raw=payload)
    assert got == status and body["field"] == field and body["error"]
    assert _raw(server.url, "/v1/act", {"signals": SIGNALS})[0] == 200


@pytest.mark.parametrize(
    ("experience", "field"),
    [
        ({"obs": [0.0] * D, "action": 1, "reward": 1.0, "next_obs": [0.0] * D}, "experiences[0].done"),
        (
            {"obs": [0.0] * D, "action": 9, "reward": 1.0, "next_obs": [0.0] * D, "done": False},
            "experiences[0].action",
        ),
        (
            {"obs": [0.0] * D, "action": 1, "reward": "hi", "next_obs": [0.0] * D, "done": False},
            "experiences[0].reward",
        ),
        (
            {"obs": [0.0] * 3, "action": 1, "reward": 1.0, "next_obs": [0.0] * D, "done": False},
            "experiences[0].obs",
        ),
    ],
)
def test_malformed_log_returns_is_rejected(
    online_server: Any, experience: dict[str, Any], field: str
) -> None:
    server, service = online_server
    status, body = _raw(server.url, "/v1/log_returns", {"experiences": [experience]})
    assert status == 422 and body["field"] == field
    assert len(service.buffer) == 0


def _experience(rng: np.random.Generator, best: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(200):
        obs = rng.uniform(0, 1, D)
        action = int(rng.integers(0, 5))
        out.append(
            {
                "obs": obs.tolist(),
                "action": action,
                "reward": 1.0 if action == best else -abs(action - best) * 0.5,
                "next_obs": rng.uniform(0, 1, D).tolist(),
                "done": False,
            }
        )
    return out


def test_online_learning_moves_the_served_policy_towards_the_better_action(online_server: Any) -> None:
    server, _service = online_server
    client = PolicyClient(server.url)
    obs = np.full(D, 0.5, dtype=np.float32)
    before = client.act(observation=obs, current_replicas=4)
    assert (before["action"], before["desired_replicas"], before["policy_version"]) == (
        2,
        4,
        0,
    )  # untrained: hold
    answer = client.log_returns(_experience(np.random.default_rng(0), best=3))  # delta +1 is clearly best
    assert answer["accepted"] == 200
    deadline = time.monotonic() + 20
    while client.healthz()["policy_version"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the periodic update runs every 0.05 s
    after = client.act(observation=obs, current_replicas=4)
    assert after["policy_version"] >= 1
    assert (after["action"], after["desired_replicas"]) == (3, 5)
    # the current count is recovered from the layout's inv_desired when not given
    obs2 = obs.copy()
    obs2[OBSERVATION_FEATURES.index("inv_desired")] = 1 / 8
    assert client.act(observation=obs2)["desired_replicas"] == 9


def test_linear_q_update_direct_and_validation() -> None:
    q = LinearQPolicy(3, deltas=(-1, 0, 1), gamma=0.0)
    batch = [
        Experience(np.array([1.0, 0, 0]), a, float(a == 0), np.zeros(3), True)
        for a in (0, 1, 2)
        for _ in range(5)
    ]
    q.update(batch)
    assert q.act_observation(np.array([1.0, 0, 0])) == 0 and q.version == 1
    assert q.desired_replicas(0, current_replicas=1, min_replicas=1, max_replicas=5) == 1
    with pytest.raises(ValueError, match="gamma"):
        LinearQPolicy(3, gamma=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        PolicyService(SPEC)


def test_remote_policy_and_client_errors(policy_server: BackgroundServer) -> None:
    remote = RemotePolicy(PolicyClient(policy_server.url, token="s3cret"), SPEC, target="ns/web")
    signals = ScalingSignals.single(**{k: (np.nan if v is None else float(v)) for k, v in SIGNALS.items()})
    assert remote.act(signals).tolist() == [6]
    with pytest.raises(PolicyServerError, match="401"):
        RemotePolicy(PolicyClient(policy_server.url), SPEC).act(signals)
    dead = PolicyClient("http://127.0.0.1:9", timeout_s=0.5)  # discard port: nothing listens
    with pytest.raises(PolicyServerError):
        dead.healthz()


@pytest.mark.parametrize("url", ["ftp://x", "localhost:8080", "http://", "http://h:notaport"])
def test_bad_urls_are_named(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        validate_http_url(url)


def test_act_answers_carry_reasons_history_and_the_slo_and_metrics_are_served() -> None:
    spec = ServiceSpec("web", 10.0, 0.25, 1, 10, slo_budget=0.005)
    service = PolicyService(spec, policy_factory=ThresholdPolicy)
    with BackgroundServer(make_app(service)) as server:
        first = _raw(server.url, "/v1/act", {"target": "web", "signals": SIGNALS})[1]
        second = _raw(server.url, "/v1/act", {"target": "web", "signals": SIGNALS})[1]
        other = _raw(server.url, "/v1/act", {"target": "api", "signals": SIGNALS})[1]
        assert first["desired_replicas"] == 6
        (reason,) = first["reasons"]  # a policy without explain() is still named, with what it saw
        assert reason["code"] == "PolicyProposal" and "threshold proposed 6" in reason["message"]
        assert "request_rate_rps 60" in reason["message"]
        # the answer says it depends on earlier calls for the same target, and a new target starts cold
        assert (first["history_calls"], second["history_calls"], other["history_calls"]) == (0, 1, 0)
        assert first["slo"] == {"latency_s": 0.25, "budget": 0.005}
        _raw(server.url, "/v1/act", {"target": "web"})  # a 422
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as rsp:
            text = rsp.read().decode()
    assert 'rlscale_server_requests_total{code="200",path="/v1/act"} 3.0' in text
    assert 'rlscale_server_requests_total{code="422",path="/v1/act"} 1.0' in text
    assert 'rlscale_proposed_replicas{target="api"} 6.0' in text


def test_online_answers_name_the_action_taken(online_server: Any) -> None:
    server, _ = online_server
    answer = _raw(server.url, "/v1/act", {"target": "web", "signals": SIGNALS})[1]
    (reason,) = answer["reasons"]
    assert reason["code"] == "PolicyAction" and reason["after"] == answer["desired_replicas"]
    assert f"action {answer['action']}" in reason["message"] and "from 4 pods" in reason["message"]
