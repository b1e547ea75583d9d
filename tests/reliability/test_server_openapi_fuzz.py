"""OpenAPI-driven fuzzing of the policy server (issue 14; Schemathesis's method): request
bodies are generated from the schema the server serves at ``/openapi.json`` (valid ones, and
arbitrary JSON) and posted over real HTTP on loopback. (hypothesis-jsonschema, the usual
generator, breaks on this Hypothesis; :func:`from_schema` covers the keywords the spec uses.)
Every answer must be a 2xx or a 4xx with a JSON error (never a 5xx), and every answer to
``/v1/act`` must be within [min, max]."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.reliability.cli_harness import COUNTS

from rlscale.controller.app import load_policy
from rlscale.controller.online_learner import LinearQPolicy
from rlscale.controller.server import BackgroundServer, PolicyService, make_app
from rlscale.core import ServiceSpec, observation_size

SPEC = ServiceSpec("served", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=2, max_replicas=6)


def post(url: str, body: Any) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def json_schema(node: Any, components: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``$ref`` inlined, ``nullable`` as a null type."""
    if isinstance(node, list):
        return [json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``: the JSON Schema keywords the served spec uses."""
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "integer":
        return st.integers(low, high)
    if kind == "number":
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            None if low is None else int(low), None if high is None else int(high)
        )
    if kind == "string":
        return st.text(max_size=min(schema.get("maxLength", 20), 20))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        size = schema.get("minItems", 0), min(schema.get("maxItems", 4), max(schema.get("minItems", 0), 4))
        return st.lists(from_schema(schema.get("items", {})), min_size=size[0], max_size=size[1])
    if kind == "object":
        props = schema.get("properties", {})
        required = [k for k in schema.get("required", []) if k in props]
        return st.fixed_dictionaries(
            {k: from_schema(props[k]) for k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    return st.none() | st.integers() | st.text(max_size=5)  # no type: anything


@pytest.fixture(scope="module", params=["hpa", "online"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    if request.param == "online":
        service = PolicyService(SPEC, online=LinearQPolicy(observation_size()))
    else:
        service = PolicyService(SPEC, policy_factory=lambda: load_policy("hpa", SPEC))
    with BackgroundServer(make_app(service)) as running:
        with urllib.request.urlopen(running.url + "/openapi.json", timeout=10) as response:
            document = json.loads(response.read())
        components = document["components"]["schemas"]
        bodies = {
            path: json_schema(op["post"]["requestBody"]["content"]["application/json"]["schema"], components)
            for path, op in document["paths"].items()
            if "post" in op
        }
        yield running.url, bodies


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def check(url: str, path: str, body: Any) -> None:
    status, answer = post(url + path, body)
    COUNTS[f"openapi.{path}"] += 1
    COUNTS[f"openapi.{path}.{status // 100}xx"] += 1
    assert status < 500, (path, body, status, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer.get("error"), answer
    elif path == "/v1/act":
        assert SPEC.min_replicas <= answer["desired_replicas"] <= SPEC.max_replicas, (body, answer)


@given(data=st.data())
def test_schema_valid_requests_are_answered_within_bounds(
    server: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    url, bodies = server
    path = data.draw(st.sampled_from(sorted(bodies)), label="path")
    schema = bodies[path]
    if path == "/v1/act":  # the server needs one of the two inputs the schema lists as optional
        needed = data.draw(st.sampled_from(["signals", "observation"]), label="input")
        schema = {**schema, "required": [needed]}
    body = data.draw(from_schema(schema), label="body")
    check(url, path, body)


@given(data=st.data())
def test_arbitrary_json_never_gets_a_5xx(server: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    url, bodies = server
    path = data.draw(st.sampled_from(sorted(bodies)), label="path")
    check(url, path, data.draw(anything, label="body"))
