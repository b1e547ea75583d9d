"""What the apiserver does to a custom resource on create and update, in its order: unknown
fields are pruned (or, with ``fieldValidation=Strict``, refused), defaults are filled, the
structural schema is checked, then the CEL rules (``x-kubernetes-validations``); errors are
a 422 ``Invalid`` whose causes name each field, worded as kube-apiserver words them
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from rlscale.emulator.store import ApiError, JsonObj, ResourceType

#: RFC 1123 subdomain, the rule for custom resource names (k8s.io/apimachinery validation.IsDNS1123Subdomain).
DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_SUBDOMAIN_MAX = 253
#: Fields every object has outside its schema's ``properties``.
ROOT_FIELDS = ("apiVersion", "kind", "metadata")
#: The cause the apiserver adds when CEL rules were skipped because the schema check failed.
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


def admit(rtype: ResourceType, schema: JsonObj, obj: JsonObj, *, strict: bool) -> JsonObj:
    """``obj`` pruned and defaulted, or an :class:`ApiError` (400 for unknown fields under
    ``strict``, 422 naming every invalid field)."""
    obj = copy.deepcopy(obj)
    name = str((obj.get("metadata") or {}).get("name") or "")
    unknown = list(_unknown_fields(schema, obj, "", root=True))
    if unknown and strict:
        listed = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise ApiError(
            400,
            "BadRequest",
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"strict decoding error: {listed}",
        )
    _prune(schema, obj, root=True)
    _default(schema, obj)
    causes = _name_causes(name) + _schema_causes(schema, obj)
    if causes:
        causes.append(_cause("FieldValueInvalid", "<nil>", f'Invalid value: "null": {RULES_NOT_CHECKED}'))
    else:
        causes = list(_rule_causes(schema, obj, ""))
    if causes:
        raise invalid(rtype, name, causes)
    return obj


def invalid(rtype: ResourceType, name: str, causes: list[JsonObj]) -> ApiError:
    """The apiserver's 422 for ``causes`` (``field: message`` each, bracketed when several)."""
    texts = [f"{c['field']}: {c['message']}" for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{rtype.kind}.{rtype.group} "{name}" is invalid: {joined}',
        {"name": name, "group": rtype.group, "kind": rtype.kind, "causes": causes},
    )


def _cause(reason: str, field: str, message: str) -> JsonObj:
    return {"reason": reason, "message": message, "field": field}


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


# -- pruning --------------------------------------------------------------------------
def _keeps_unknown(schema: JsonObj) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) or "additionalProperties" in schema


def _unknown_fields(schema: JsonObj, value: Any, path: str, root: bool = False) -> Iterator[str]:
    if isinstance(value, dict) and schema.get("type", "object") == "object" and not _keeps_unknown(schema):
        props = schema.get("properties") or {}
        for key, sub in value.items():
            if root and key in ROOT_FIELDS:
                continue
            if key not in props:
                yield _child(path, key)
            else:
                yield from _unknown_fields(props[key], sub, _child(path, key))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _unknown_fields(schema["items"], item, _child(path, i))


def _prune(schema: JsonObj, value: Any, root: bool = False) -> None:
    if isinstance(value, dict) and schema.get("type", "object") == "object" and not _keeps_unknown(schema):
        props = schema.get("properties") or {}
        for key in list(value):
            if root and key in ROOT_FIELDS:
                continue
            if key not in props:
                del value[key]
            else:
                _prune(props[key], value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _prune(schema["items"], item)


# -- defaulting -----------------------------------------------------------------------
def _default(schema: JsonObj, value: Any) -> None:
    """Fill ``default`` of absent properties, inside objects that are present (the
    apiserver's structural defaulting; a missing parent is not created)."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _default(sub, value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _default(schema["items"], item)


# -- structural schema ----------------------------------------------------------------
def _draft4(schema: Any) -> Any:
    """The schema as JSON Schema draft 4 (OpenAPI 3.0's ``nullable`` is a ``null`` type)."""
    if isinstance(schema, dict):
        out = {k: _draft4(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        out.pop("format", None)  # formats are advisory here, as in OpenAPI
        return out
    if isinstance(schema, list):
        return [_draft4(v) for v in schema]
    return schema


#: JSON type names as the apiserver's messages spell them.
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def _shown(value: Any) -> str:
    return json.dumps(value)


def _schema_causes(schema: JsonObj, obj: JsonObj) -> list[JsonObj]:
    import jsonschema

    validator = jsonschema.Draft4Validator(_draft4(schema))
    causes: list[JsonObj] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        path = ""
        for part in error.absolute_path:
            path = _child(path, part)
        causes.extend(_one_cause(error, path))
    return causes


def _one_cause(error: Any, path: str) -> list[JsonObj]:
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "required":
        return [
            _cause("FieldValueRequired", _child(path, name), "Required value")
            for name in expected
            if isinstance(value, dict) and name not in value and f"'{name}'" in error.message
        ]
    if kind == "enum":
        supported = ", ".join(_shown(v) for v in expected)
        return [
            _cause(
                "FieldValueNotSupported",
                path,
                f"Unsupported value: {_shown(value)}: supported values: {supported}",
            )
        ]
    bounds = {
        "minimum": "greater than or equal to",
        "maximum": "less than or equal to",
    }
    if kind in bounds:
        exclusive = error.schema.get(f"exclusive{kind[0].upper()}{kind[1:]}") is True
        relation = bounds[kind].replace(" or equal to", "") if exclusive else bounds[kind]
        text = f"{path} in body should be {relation} {expected}"
    elif kind == "type":
        text = f"{path} in body must be of type {expected}: {_shown(_JSON_TYPES.get(type(value), 'null'))}"
    elif kind == "pattern":
        text = f"{path} in body should match '{expected}'"
    elif kind == "minLength":
        text = f"{path} in body should be at least {expected} chars long"
    elif kind == "maxLength":
        text = f"{path} in body may not be longer than {expected}"
    else:
        text = error.message
    return [_cause("FieldValueInvalid", path, f"Invalid value: {_shown(value)}: {text}")]


def _name_causes(name: str) -> list[JsonObj]:
    if len(name) <= DNS1123_SUBDOMAIN_MAX and re.fullmatch(DNS1123_SUBDOMAIN, name):
        return []
    return [
        _cause(
            "FieldValueInvalid",
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            f"character (e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')",
        )
    ]


# -- CEL rules ------------------------------------------------------------------------
def _rule_causes(schema: JsonObj, value: Any, path: str) -> Iterator[JsonObj]:
    """Evaluate every ``x-kubernetes-validations`` rule with ``self`` bound to its node."""
    import cel

    for rule in schema.get("x-kubernetes-validations") or ():
        try:
            ok = cel.evaluate(rule["rule"], {"self": value})
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            message = f"rule {rule['rule']!r} could not be evaluated: {exc}"
            yield _cause("FieldValueInvalid", path or "<nil>", f'Invalid value: "object": {message}')
            continue
        if ok is not True:
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            field = _child(path, rule["fieldPath"].lstrip(".")) if rule.get("fieldPath") else path
            shown = _JSON_TYPES.get(type(value), "null")
            yield _cause("FieldValueInvalid", field or "<nil>", f'Invalid value: "{shown}": {message}')
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                yield from _rule_causes(sub, value[key], _child(path, key))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _rule_causes(schema["items"], item, _child(path, i))
