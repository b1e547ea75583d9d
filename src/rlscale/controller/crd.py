"""The ``RLAutoscaler`` custom resource: its CRD manifest (what ``deploy/crd.yaml`` is generated
from), the Python-side validation of a spec against the same OpenAPI v3 schema, and the
defaulted spec the operator acts on. The spec's schema, defaults and descriptions are not
written here: they are generated from the settings of
:class:`~rlscale.controller.run_config.RunConfig` that have a CR path, and a CR's values are read
back into RunConfig's field names, so ``rlscale run`` and the operator share one definition.

Why validate in Python too: a real kube-apiserver enforces the schema (and the CEL rule)
on every write, but an older cluster, an emulated one, or a CR created before a schema
change can still carry a bad spec. The operator therefore re-checks each spec before it
acts and reports a bad one in the CR's status and events, never with a scale write.

Regenerate the YAML with ``python -m rlscale.controller.crd > deploy/crd.yaml``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any

from rlscale.controller.run_config import RunConfig
from rlscale.core.resource_names import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from rlscale.core.settings import SAME_DEFAULT, ConfigError, SettingField, describe, settings_of, value_type

API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"

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


#: Descriptions of the spec's objects that group settings (the settings describe themselves).
_OBJECT_DESCRIPTIONS = {
    "scaleTargetRef": "The workload whose scale subresource is patched.",
    "slo": "The service level objective: a latency, and the share of requests allowed over it.",
    "service": "Facts about the service the policy needs (ServiceSpec).",
    "behavior": "Safety guard settings (HPA behavior semantics).",
}
#: The target kinds the actuator scales (its name is RunConfig.deployment).
_TARGET_REF_KIND = {
    "apiVersion": {"type": "string", "enum": ["apps/v1"]},
    "kind": {"type": "string", "enum": ["Deployment"]},
}
#: OpenAPI type of each Python type a setting may have.
_OPENAPI_TYPES = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    dict: "object",
    tuple: "array",
}


def _field_schema(f: SettingField) -> dict[str, Any]:
    """A setting's OpenAPI schema: its type, constraints, CR default and description."""
    schema: dict[str, Any] = {"type": _OPENAPI_TYPES[value_type(f.type)], **f.setting.cr_schema}
    default = f.default if f.setting.cr_default is SAME_DEFAULT else f.setting.cr_default
    if not f.setting.cr_required and default is not MISSING and default is not None:
        if schema["type"] == "integer":
            default = int(default)
        schema["default"] = list(default) if isinstance(default, tuple) else default
    schema["description"] = describe(f)
    return schema


def spec_schema(config_cls: type = RunConfig) -> dict[str, Any]:
    """OpenAPI v3 (structural) schema of ``spec``, generated from the settings of ``config_cls``
    that have a CR path; the defaults here are the command's defaults."""
    root: dict[str, Any] = {
        "type": "object",
        "required": [],
        "x-kubernetes-validations": [{"rule": r.rule, "message": r.message} for r in SPEC_RULES],
        "properties": {},
    }
    for f in settings_of(config_cls):
        if f.setting.cr_path is None:
            continue
        node = root
        *parents, leaf = f.setting.cr_path.split(".")
        for part in [*parents, leaf]:
            if f.setting.cr_required and part not in node.setdefault("required", []):
                node["required"].append(part)
            if part == leaf:
                node["properties"][leaf] = _field_schema(f)
            else:
                node = node["properties"].setdefault(part, _object(part))
    return root


def _object(name: str) -> dict[str, Any]:
    """A spec object that groups settings (``slo``, ``behavior``...)."""
    node: dict[str, Any] = {"type": "object"}
    if name in _OBJECT_DESCRIPTIONS:
        node["description"] = _OBJECT_DESCRIPTIONS[name]
    if name == "scaleTargetRef":
        node["required"] = list(_TARGET_REF_KIND)
    node["properties"] = copy.deepcopy(_TARGET_REF_KIND) if name == "scaleTargetRef" else {}
    return node


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


def validate_spec(spec: Any, config_cls: type = RunConfig) -> list[str]:
    """Every problem with ``spec`` (the CR's ``.spec``), each naming its field; ``[]`` if valid.

    Uses the CRD's own schema (OpenAPI v3.0 follows JSON Schema draft 4: boolean
    ``exclusiveMinimum``) plus the CEL rules' Python twins.
    """
    import jsonschema

    if not isinstance(spec, Mapping):
        return [f"spec must be an object, got {type(spec).__name__}"]
    validator = jsonschema.Draft4Validator(_strict(spec_schema(config_cls)))
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
    defaulted = with_defaults(spec, config_cls)
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


def with_defaults(spec: Mapping[str, Any], config_cls: type = RunConfig) -> dict[str, Any]:
    """``spec`` with the schema's defaults filled in (a no-op on a cluster that defaulted it)."""
    return _apply_defaults(spec_schema(config_cls), copy.deepcopy(dict(spec)))


def _cr_value(spec: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``spec``, or ``MISSING``."""
    node: Any = spec
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def _as_field_value(f: SettingField, value: Any) -> Any:
    """A CR value (JSON) in the field's Python type (``onPolicyFailure: hold`` -> False...)."""
    if f.setting.from_cr is not None:
        return f.setting.from_cr(value)
    python_type = value_type(f.type)
    return value if value is None or python_type in (dict, str, bool) else python_type(value)


@dataclass(frozen=True)
class RLAutoscalerSpec:
    """A validated, defaulted ``RLAutoscaler.spec``: the target's kind, and the values it sets
    for the configuration's fields, by field name (``{"max_step_up_pods": 4, ...}``)."""

    settings: Mapping[str, Any]
    target_kind: str = "Deployment"
    target_api_version: str = "apps/v1"

    @classmethod
    def from_spec(cls, spec: Any, name: str = "", config_cls: type = RunConfig) -> RLAutoscalerSpec:
        """Validate and default ``spec``; raises :class:`SpecError` listing every problem."""
        problems = validate_spec(spec, config_cls)
        if problems:
            raise SpecError(problems, name)
        s = with_defaults(spec, config_cls)
        values = {}
        for f in settings_of(config_cls):
            value = MISSING if f.setting.cr_path is None else _cr_value(s, f.setting.cr_path)
            if value is not MISSING:
                values[f.name] = _as_field_value(f, value)
        target = s["scaleTargetRef"]
        return cls(settings=values, target_kind=target["kind"], target_api_version=target["apiVersion"])


def spec_problems(exc: ValueError) -> list[str]:
    """A configuration's error as the CR's user needs it: naming ``spec.*`` fields."""
    return exc.render("cr") if isinstance(exc, ConfigError) else [str(exc)]


if __name__ == "__main__":  # pragma: no cover - generator entry point
    import sys

    sys.stdout.write(render_crd_yaml())
