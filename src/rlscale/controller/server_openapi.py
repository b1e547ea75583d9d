"""The OpenAPI 3 description of the policy server (``GET /openapi.json``): built from the same
limits the request parsers enforce, so the document and the server cannot disagree."""

from __future__ import annotations

from typing import Any

from rlscale.controller.server_requests import (
    API_VERSION,
    FLOAT32_MAX,
    MAX_EXPERIENCE_MAGNITUDE,
    MAX_EXPERIENCES_PER_REQUEST,
    MAX_REPLICAS,
    MAX_TARGET_LEN,
    SIGNAL_FIELDS,
)
from rlscale.core.observation import OBSERVATION_FEATURES, observation_size
from rlscale.core.signals import OPTIONAL_SIGNAL_FIELDS


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3 description served at ``/openapi.json``."""
    reading = {"type": "number", "minimum": 0, "nullable": True}
    signals = {
        "type": "object",
        "description": "One period's ScalingSignals (rlscale.core.signals); null = unknown.",
        "properties": {name: reading for name in SIGNAL_FIELDS if name not in ("time_s", "desired_replicas")}
        | {
            "time_s": {"type": "number"},
            "desired_replicas": {"type": "number", "minimum": 0, "maximum": MAX_REPLICAS},
        },
        "required": [n for n in SIGNAL_FIELDS if n != "time_s" and n not in OPTIONAL_SIGNAL_FIELDS],
        "additionalProperties": False,
    }
    size = observation_size()
    vector = {
        "type": "array",
        "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
        "minItems": size,
        "maxItems": size,
        "description": f"The observation layout: {', '.join(OBSERVATION_FEATURES)}",
    }
    bounded = {"type": "number", "minimum": -MAX_EXPERIENCE_MAGNITUDE, "maximum": MAX_EXPERIENCE_MAGNITUDE}
    logged_vector = vector | {"items": bounded}
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "field": {"type": "string", "nullable": True}},
        "required": ["error"],
    }
    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "Malformed JSON"),
            (401, "Missing or wrong bearer token"),
            (422, "Invalid field"),
        )
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "rlscale policy server",
            "version": API_VERSION,
            "description": "Act on observations and learn from logged returns (seed-001 server/client mode).",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Signals": signals,
                "Observation": vector,
                "Error": error,
                "ActRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "target": {"type": "string", "maxLength": MAX_TARGET_LEN},
                        "observation": {"$ref": "#/components/schemas/Observation"},
                        "signals": {"$ref": "#/components/schemas/Signals"},
                        "current_replicas": {"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS},
                    },
                },
                "ActResponse": {
                    "type": "object",
                    "required": ["action", "desired_replicas"],
                    "properties": {
                        "action": {"type": "integer"},
                        "desired_replicas": {"type": "integer", "minimum": 0},
                        "action_space": {"type": "string", "enum": ["delta", "replicas"]},
                        "policy": {"type": "string"},
                        "policy_version": {"type": "integer"},
                        "reasons": {
                            "type": "array",
                            "description": "The policy's own reasons for desired_replicas (what it sized "
                            "for), then the guard's: what it clamped, limited or held, and why.",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                    "before": {"type": ["integer", "null"]},
                                    "after": {"type": ["integer", "null"]},
                                },
                            },
                        },
                        "target": {"type": "string"},
                        "history_calls": {
                            "type": "integer",
                            "description": "Earlier calls for this target: the served policy keeps "
                            "per-target history (load trend, peaks), so answers depend on them.",
                        },
                        "slo": {
                            "type": "object",
                            "properties": {"latency_s": {"type": "number"}, "budget": {"type": "number"}},
                        },
                    },
                },
                "Experience": {
                    "type": "object",
                    "required": ["obs", "action", "reward", "next_obs", "done"],
                    "properties": {
                        "obs": logged_vector,
                        "action": {"type": "integer", "minimum": 0},
                        "reward": bounded,
                        "next_obs": logged_vector,
                        "done": {"type": "boolean"},
                    },
                },
                "LogReturnsRequest": {
                    "type": "object",
                    "required": ["experiences"],
                    "properties": {
                        "experiences": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_EXPERIENCES_PER_REQUEST,
                            "items": {"$ref": "#/components/schemas/Experience"},
                        }
                    },
                },
            },
        },
        "paths": {
            "/v1/act": {
                "post": {
                    "summary": "Desired replicas for one target",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ActRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The action",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ActResponse"}}
                            },
                        },
                        **errors,
                    },
                }
            },
            "/v1/log_returns": {
                "post": {
                    "summary": "Log experience tuples for online learning",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/LogReturnsRequest"}}
                        },
                    },
                    "responses": {"200": {"description": "Accepted"}, **errors},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and the served policy's version",
                    "security": [],
                    "responses": {"200": {"description": "Healthy"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3"}},
                }
            },
        },
    }
