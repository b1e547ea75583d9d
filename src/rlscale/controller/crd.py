"""The ``RLAutoscaler`` custom resource: its CRD manifest (the single source of truth that
``deploy/crd.yaml`` is generated from), the Python-side validation of a spec against the
same OpenAPI v3 schema, and the typed, defaulted spec the operator acts on.

Why validate in Python too: a real kube-apiserver enforces the schema (and the CEL rule)
on every write, but an older cluster, an emulated one, or a CR created before a schema
change can still carry a bad spec. The operator therefore re-checks each spec before it
acts and reports a bad one in the CR's status and events, never with a scale write.

Regenerate the YAML with ``python -m rlscale.controller.crd > deploy/crd.yaml``.

Why one module of about 600 lines: the OpenAPI schema, its Python-side validation and
defaulting, and the typed spec are one contract that must change together (a field added to
one and not the others is the bug this file exists to prevent); generating the schema from a
single typed definition (issue 12, item 2) is what will shrink it, not splitting it.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rlscale.core.kubernetes_defaults import (
    HPA_DOWNSCALE_STABILIZATION_S,
    HPA_MAX_POLICY_PERIOD_S,
    HPA_MAX_STABILIZATION_S,
    HPA_SCALE_UP_PERCENT,
    HPA_SCALE_UP_PERIOD_S,
    HPA_SCALE_UP_PODS,
    HPA_SYNC_PERIOD_S,
)
from rlscale.core.resource_names import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from rlscale.core.spec import DEFAULT_SLO_BUDGET  # the CR's default is ServiceSpec's
from rlscale.prometheus.promql import PROMETHEUS_DURATION

API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"

#: The HPA's defaults (core.kubernetes_defaults): the sync period, the scale-down stabilisation
#: window (whole seconds in the CR, as the HPA's stabilizationWindowSeconds) and its one-hour cap.
DEFAULT_INTERVAL_S = HPA_SYNC_PERIOD_S
DEFAULT_SCALE_DOWN_STABILIZATION_S = int(HPA_DOWNSCALE_STABILIZATION_S)
MAX_STABILIZATION_S = int(HPA_MAX_STABILIZATION_S)

#: DNS-1123 label (Kubernetes object names of Deployments), ``k8s.io/apimachinery`` validation.
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A policy spec as ``rlscale run --policy`` takes it (rlscale.policies.parse_policy_spec):
#: a registry name, then optional ``:key=value,...`` or ``:argument`` (a model path), no whitespace.
POLICY_PATTERN = r"^[a-z][a-z0-9_-]*(:[^\s]+)?$"

#: CR field under ``spec.metrics.queries`` -> :class:`rlscale.controller.metrics_source.MetricQueries`
#: field (PromQL templates with ``$namespace``, ``$deployment``, ``$window``).
QUERY_FIELDS: dict[str, str] = {
    "requestRate": "request_rate_rps",
    "cpuUsageCores": "cpu_usage_cores",
    "cpuRequestsCores": "cpu_requests_cores",
    "cpuUtilization": "cpu_utilization",
    "latencyP95": "latency_p95_s",
    "readyReplicas": "ready_replicas",
    "desiredReplicas": "desired_replicas",
    "pendingReplicas": "pending_replicas",
    "droppedRate": "dropped_rps",
    "backlog": "backlog_requests",
    "sloViolationFraction": "slo_violation_fraction",
    "freshness": "freshness_s",
}
#: Signals a spec may require fresh before the guard trusts a decision (ScalingSignals fields).
SIGNAL_NAMES: tuple[str, ...] = (
    "request_rate_rps",
    "cpu_utilization",
    "latency_p95_s",
    "ready_replicas",
    "pending_replicas",
    "backlog_requests",
    "dropped_rps",
)
#: Same as ``rlscale.controller.loop.DEFAULT_REQUIRED_SIGNALS`` (a test keeps them equal).
DEFAULT_REQUIRED_SIGNALS: tuple[str, ...] = ("request_rate_rps", "cpu_utilization", "ready_replicas")
#: HPA behaviour defaults (core.kubernetes_defaults): scale up by at most 4 pods or 100 % per
#: 15 s; scale-down unlimited per period (stabilisation slows it).
DEFAULT_PERIOD_S = HPA_SCALE_UP_PERIOD_S
DEFAULT_SCALE_UP_PODS = HPA_SCALE_UP_PODS
DEFAULT_SCALE_UP_PERCENT = float(HPA_SCALE_UP_PERCENT)
#: Prometheus range for rate(): four scrapes at the usual 15 s interval (metrics_source.py).
DEFAULT_WINDOW = "1m"

#: Service facts' defaults, shared with ``rlscale run``'s flags (one definition): 10 req/s a
#: pod, 45 s from creation to Ready (the middle of the 30-60 s start-up range, DESIGN.md §3).
DEFAULT_POD_CAPACITY_RPS = 10.0
DEFAULT_STARTUP_DELAY_S = 45.0

#: ``kubectl get rla`` columns, read like ``kubectl get hpa``: the target, the SLO it is held
#: to, its bounds, the replicas now and wanted, the policy and whether it is scaling.
PRINTER_COLUMNS: tuple[dict[str, str], ...] = (
    {"name": "Target", "type": "string", "jsonPath": ".spec.scaleTargetRef.name"},
    {
        "name": "SLO",
        "type": "number",
        "jsonPath": ".spec.slo.latencySeconds",
        "description": "Latency SLO, s.",
    },
    {
        "name": "Budget",
        "type": "number",
        "jsonPath": ".spec.slo.budget",
        "description": "Error budget fraction.",
    },
    {"name": "Min", "type": "integer", "jsonPath": ".spec.minReplicas"},
    {"name": "Max", "type": "integer", "jsonPath": ".spec.maxReplicas"},
    {"name": "Current", "type": "integer", "jsonPath": ".status.currentReplicas"},
    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
    {"name": "Policy", "type": "string", "jsonPath": ".spec.policy"},
    {
        "name": "Active",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="ScalingActive")].status',
        "description": "ScalingActive condition: the policy decides and the guard applies it.",
    },
    {
        "name": "Last decision",
        "type": "string",
        "jsonPath": ".status.lastDecision.summary",
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)

#: Status condition types, as the HPA reports them (autoscaling/v2 HorizontalPodAutoscalerConditionType),
#: plus ``SpecValid`` for the operator's own spec check.
CONDITION_ABLE_TO_SCALE = "AbleToScale"
CONDITION_SCALING_ACTIVE = "ScalingActive"
CONDITION_SCALING_LIMITED = "ScalingLimited"
CONDITION_SPEC_VALID = "SpecValid"


def _int(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def _positive_number(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "description": description,
        **extra,
    }


@dataclass(frozen=True)
class CelRule:
    """An ``x-kubernetes-validations`` rule and the same check in Python (there is no CEL
    evaluator in the live image; the rule set is tiny, so each rule carries its twin)."""

    rule: str
    message: str
    check: Callable[[Mapping[str, Any]], bool]
    #: the spec fields the rule reads; it is checked when these are valid, even if others are not
    fields: tuple[str, ...] = ()


SPEC_RULES: tuple[CelRule, ...] = (
    CelRule(
        rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
        message="minReplicas must be less than or equal to maxReplicas",
        check=lambda spec: spec.get("minReplicas", 1) <= spec["maxReplicas"],
        fields=("minReplicas", "maxReplicas"),
    ),
)


def spec_schema() -> dict[str, Any]:
    """OpenAPI v3 (structural) schema of ``spec``; defaults here are the operator's defaults."""
    query = {"type": "string", "minLength": 1, "description": "PromQL expression."}
    return {
        "type": "object",
        "required": ["scaleTargetRef", "maxReplicas", "slo"],
        "x-kubernetes-validations": [{"rule": r.rule, "message": r.message} for r in SPEC_RULES],
        "properties": {
            "scaleTargetRef": {
                "type": "object",
                "description": "The workload whose scale subresource is patched.",
                "required": ["apiVersion", "kind", "name"],
                "properties": {
                    "apiVersion": {"type": "string", "enum": ["apps/v1"]},
                    "kind": {"type": "string", "enum": ["Deployment"]},
                    "name": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": DNS1123_LABEL},
                },
            },
            "minReplicas": _int(
                0, description="Lower bound on replicas (0 allows scale to zero).", default=1
            ),
            "maxReplicas": _int(1, description="Upper bound on replicas; never written above."),
            "policy": {
                "type": "string",
                "pattern": POLICY_PATTERN,
                "default": "hpa",
                "description": "Policy spec, as `rlscale run --policy` takes it (e.g. `hpa`, `learned:/models/policy` for a checkpoint directory).",
            },
            "slo": {
                "type": "object",
                "required": ["latencySeconds"],
                "properties": {
                    "latencySeconds": _positive_number("p95 latency objective of the service, seconds."),
                    "budget": {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": 1,
                        "exclusiveMaximum": True,
                        "default": DEFAULT_SLO_BUDGET,
                        "description": "Error budget: the fraction of requests that may take longer than "
                        "latencySeconds or be dropped (0.01 = 1 %).",
                    },
                },
            },
            "service": {
                "type": "object",
                "description": "Facts about the service the policy needs (ServiceSpec).",
                "properties": {
                    "podCapacityRps": _positive_number(
                        "Request rate one ready pod sustains, requests/s.", default=DEFAULT_POD_CAPACITY_RPS
                    ),
                    "startupDelaySeconds": {
                        "type": "number",
                        "minimum": 0,
                        "default": DEFAULT_STARTUP_DELAY_S,
                        "description": "Seconds from pod creation to Ready.",
                    },
                },
            },
            "metrics": {
                "type": "object",
                "properties": {
                    "prometheusUrl": {
                        "type": "string",
                        "pattern": r"^https?://[^\s/]+(/[^\s]*)?$",
                        "description": "Prometheus HTTP API base URL (default: the operator's --prometheus).",
                    },
                    "timeoutSeconds": _positive_number("Per-query timeout, seconds.", default=2.0),
                    "stalenessSeconds": _positive_number(
                        "Samples older than this count as missing, seconds.", default=60.0
                    ),
                    "window": {
                        "type": "string",
                        "pattern": PROMETHEUS_DURATION,
                        "default": DEFAULT_WINDOW,
                        "description": "Range of rate() in the queries ($window).",
                    },
                    "queries": {
                        "type": "object",
                        "description": "PromQL per signal ($namespace, $deployment, $window are substituted); "
                        "unset ones use the defaults for kube-state-metrics, cAdvisor and http_requests_total.",
                        "properties": {name: dict(query) for name in QUERY_FIELDS},
                    },
                    "requiredSignals": {
                        "type": "array",
                        "items": {"type": "string", "enum": list(SIGNAL_NAMES)},
                        "default": list(DEFAULT_REQUIRED_SIGNALS),
                        "description": "Signals that must be fresh; otherwise the guard holds.",
                    },
                },
            },
            "behavior": {
                "type": "object",
                "description": "Safety guard settings (HPA behavior semantics).",
                "properties": {
                    "scaleDownStabilizationSeconds": _int(
                        0, MAX_STABILIZATION_S, default=DEFAULT_SCALE_DOWN_STABILIZATION_S
                    ),
                    "periodSeconds": {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": int(HPA_MAX_POLICY_PERIOD_S),
                        "default": DEFAULT_PERIOD_S,
                        "description": "Period of the max-step limits, seconds (HPA periodSeconds).",
                    },
                    "maxScaleUpPods": _int(1, default=DEFAULT_SCALE_UP_PODS),
                    "maxScaleUpPercent": _positive_number(
                        "Most percent added per period.", default=DEFAULT_SCALE_UP_PERCENT
                    ),
                    "maxScaleDownPods": _int(
                        1, description="Most pods removed per period (unset: no limit)."
                    ),
                    "maxScaleDownPercent": _positive_number(
                        "Most percent removed per period (unset: no limit).", maximum=100
                    ),
                    "onPolicyFailure": {
                        "type": "string",
                        "enum": ["hpa", "hold"],
                        "default": "hpa",
                        "description": "Fall back to the HPA algorithm, or hold, when the policy fails.",
                    },
                    "fallbackPolicy": {
                        "type": "string",
                        "pattern": r"^hpa(:[^\s]+)?$",
                        "default": "hpa",
                        "description": "The HPA spec fallen back to (e.g. `hpa:target=70`).",
                    },
                },
            },
            "intervalSeconds": {
                "type": "number",
                "minimum": 1,
                "default": DEFAULT_INTERVAL_S,
                "description": "Seconds between decisions (HPA sync period: 15).",
            },
            "dryRun": {
                "type": "boolean",
                "default": False,
                "description": "Decide and record, but never patch the scale subresource.",
            },
        },
    }


def status_schema() -> dict[str, Any]:
    reason = {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "before": {"type": "integer", "nullable": True},
            "after": {"type": "integer", "nullable": True},
        },
    }
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "currentReplicas": {"type": "integer"},
            "desiredReplicas": {"type": "integer"},
            "decisions": {"type": "integer", "description": "Decisions taken since the operator started."},
            "lastScaleTime": {"type": "string", "format": "date-time"},
            "lastDecision": {
                "type": "object",
                "properties": {
                    "time": {"type": "string", "format": "date-time"},
                    "currentReplicas": {"type": "integer"},
                    "proposedReplicas": {"type": "integer"},
                    "finalReplicas": {"type": "integer"},
                    "dryRun": {"type": "boolean"},
                    "summary": {"type": "string"},
                    "policyReasons": {
                        "type": "array",
                        "items": reason,
                        "description": "The policy's own reasons for proposedReplicas (what it sized for).",
                    },
                    "reasons": {
                        "type": "array",
                        "items": reason,
                        "description": "The safety guard's reasons, acting on the proposal after the policy.",
                    },
                },
            },
            "recommendations": {
                "type": "array",
                "description": "The downscale window's state (the HPA keeps it in memory): "
                "kept here so a restarted or newly elected operator continues it.",
                "items": {
                    "type": "object",
                    "required": ["time", "replicas"],
                    "properties": {
                        "time": {"type": "number", "description": "Controller clock, Unix seconds."},
                        "replicas": {"type": "integer"},
                    },
                },
            },
            "conditions": {
                "type": "array",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def crd_manifest() -> dict[str, Any]:
    """The ``CustomResourceDefinition`` for ``rlautoscalers.rlscale.io``."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "autoscaling"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "Scales a Deployment with a learned (or baseline) policy behind a safety guard.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    """``deploy/crd.yaml`` as text (generated; a test checks the file matches)."""
    import yaml

    header = (
        "# Generated by `python -m rlscale.controller.crd` from rlscale/controller/crd.py. Do not edit.\n"
    )
    return header + yaml.safe_dump(crd_manifest(), sort_keys=False, default_flow_style=False, width=120)


# --------------------------------------------------------------------------------------
# Validation


class SpecError(ValueError):
    """A custom resource's spec is invalid; ``problems`` lists one message per bad field."""

    def __init__(self, problems: list[str], name: str = "") -> None:
        self.problems = problems
        where = f"RLAutoscaler {name}: " if name else ""
        super().__init__(where + "; ".join(problems))


def _strict(schema: Any) -> Any:
    """A copy for jsonschema: objects with ``properties`` reject unknown keys (a typo like
    ``minReplica`` would be pruned silently by the apiserver; here it is named), and
    ``nullable`` becomes a ``null`` type alternative."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _path(parts: Any) -> str:
    text = "spec"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validate_spec(spec: Any) -> list[str]:
    """Every problem with ``spec`` (the CR's ``.spec``), each naming its field; ``[]`` if valid.

    Uses the CRD's own schema (OpenAPI v3.0 follows JSON Schema draft 4: boolean
    ``exclusiveMinimum``) plus the CEL rules' Python twins.
    """
    import jsonschema

    if not isinstance(spec, Mapping):
        return [f"spec must be an object, got {type(spec).__name__}"]
    validator = jsonschema.Draft4Validator(_strict(spec_schema()))
    problems = []
    bad_fields = set()
    for error in sorted(validator.iter_errors(dict(spec)), key=lambda e: list(map(str, e.absolute_path))):
        problems.append(f"{_path(error.absolute_path)}: {error.message}")
        bad_fields.add(str(error.absolute_path[0]) if error.absolute_path else "")
    # numbers that JSON can carry but a quantity cannot
    for key in ("intervalSeconds",):
        value = spec.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"spec.{key}: must be finite, got {value}")
    defaulted = with_defaults(spec)
    for rule in SPEC_RULES:
        # a rule is checked when the fields it reads are present and valid, so min > max is
        # reported together with unrelated schema errors (one round of fixes, not two)
        readable = not bad_fields & set(rule.fields) and all(f in defaulted for f in rule.fields)
        if readable and not rule.check(defaulted):
            problems.append(f"spec: {rule.message} (rule: {rule.rule})")
    return problems


def _apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Fill ``default``s the way the apiserver does (only into objects that exist or have
    defaults themselves)."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    out = dict(value)
    for name, sub in schema.get("properties", {}).items():
        if name not in out:
            if "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            elif sub.get("type") == "object" and any(
                "default" in s for s in sub.get("properties", {}).values()
            ):
                out[name] = {}
        if name in out:
            out[name] = _apply_defaults(sub, out[name])
    return out


def with_defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with the schema's defaults filled in (a no-op on a cluster that defaulted it)."""
    return _apply_defaults(spec_schema(), copy.deepcopy(dict(spec)))


@dataclass(frozen=True)
class RLAutoscalerSpec:
    """A validated, defaulted ``RLAutoscaler.spec`` in Python names and units."""

    target_name: str
    min_replicas: int
    max_replicas: int
    slo_latency_s: float
    slo_budget: float = DEFAULT_SLO_BUDGET
    policy: str = "hpa"
    target_kind: str = "Deployment"
    target_api_version: str = "apps/v1"
    pod_capacity_rps: float = DEFAULT_POD_CAPACITY_RPS
    startup_delay_s: float = DEFAULT_STARTUP_DELAY_S
    prometheus_url: str | None = None
    metrics_timeout_s: float = 2.0
    metrics_staleness_s: float = 60.0
    metrics_window: str = DEFAULT_WINDOW
    queries: dict[str, str] = field(default_factory=dict)  # MetricQueries field -> PromQL template
    required_signals: tuple[str, ...] = DEFAULT_REQUIRED_SIGNALS
    scale_down_stabilization_s: float = DEFAULT_SCALE_DOWN_STABILIZATION_S
    rate_period_s: float = DEFAULT_PERIOD_S
    max_scale_up_pods: int | None = DEFAULT_SCALE_UP_PODS
    max_scale_up_percent: float | None = DEFAULT_SCALE_UP_PERCENT
    max_scale_down_pods: int | None = None
    max_scale_down_percent: float | None = None
    fallback_hpa: bool = True
    fallback_policy: str = "hpa"
    interval_s: float = DEFAULT_INTERVAL_S
    dry_run: bool = False

    @classmethod
    def from_spec(cls, spec: Any, name: str = "") -> RLAutoscalerSpec:
        """Validate and default ``spec``; raises :class:`SpecError` listing every problem."""
        problems = validate_spec(spec)
        if problems:
            raise SpecError(problems, name)
        s = with_defaults(spec)
        target = s["scaleTargetRef"]
        service = s.get("service", {})
        metrics = s.get("metrics", {})
        behavior = s.get("behavior", {})
        return cls(
            target_name=target["name"],
            target_kind=target["kind"],
            target_api_version=target["apiVersion"],
            min_replicas=int(s["minReplicas"]),
            max_replicas=int(s["maxReplicas"]),
            policy=s["policy"],
            slo_latency_s=float(s["slo"]["latencySeconds"]),
            slo_budget=float(s["slo"]["budget"]),
            pod_capacity_rps=float(service["podCapacityRps"]),
            startup_delay_s=float(service["startupDelaySeconds"]),
            prometheus_url=metrics.get("prometheusUrl"),
            metrics_timeout_s=float(metrics["timeoutSeconds"]),
            metrics_staleness_s=float(metrics["stalenessSeconds"]),
            metrics_window=str(metrics["window"]),
            queries={QUERY_FIELDS[k]: v for k, v in metrics.get("queries", {}).items()},
            required_signals=tuple(metrics["requiredSignals"]),
            scale_down_stabilization_s=float(behavior["scaleDownStabilizationSeconds"]),
            rate_period_s=float(behavior["periodSeconds"]),
            max_scale_up_pods=behavior.get("maxScaleUpPods"),
            max_scale_up_percent=behavior.get("maxScaleUpPercent"),
            max_scale_down_pods=behavior.get("maxScaleDownPods"),
            max_scale_down_percent=behavior.get("maxScaleDownPercent"),
            fallback_hpa=behavior["onPolicyFailure"] == "hpa",
            fallback_policy=behavior["fallbackPolicy"],
            interval_s=float(s["intervalSeconds"]),
            dry_run=bool(s["dryRun"]),
        )


def policy_name(policy: str) -> str:
    """The registry name of a policy spec (``learned:/models/policy`` -> ``learned``)."""
    match = re.match(r"^[a-z][a-z0-9_-]*", policy)
    return match.group(0) if match else policy


if __name__ == "__main__":  # pragma: no cover - generator entry point
    import sys

    sys.stdout.write(render_crd_yaml())
