"""``/openapi/v3`` (and a JSON ``/openapi/v2``) from the resources the emulator serves.

kubectl reads them: ``apply`` asks the per-group-version document whether a kind's PATCH takes
the ``fieldValidation`` query parameter (then the server validates, strictly), which patch
types it accepts, and ``explain`` prints the schemas (``x-kubernetes-group-version-kind``
ties a schema to its kind). Custom resources publish their CRD's schema; built-in kinds a
minimal one (their fields are not checked here). Layout as kube-apiserver publishes it
(https://kubernetes.io/docs/concepts/overview/kubernetes-api/#openapi-v3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from rlscale.emulator.store import JsonObj, ResourceType

PATCH_TYPES_CUSTOM = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
PATCH_TYPES_BUILTIN = (*PATCH_TYPES_CUSTOM, "application/strategic-merge-patch+json")
#: Query parameters of writes (create/update/patch) on kube-apiserver; kubectl checks fieldValidation.
WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation")


def schema_name(rtype: ResourceType) -> str:
    """``io.k8s.api.apps.v1.Deployment`` style name (reversed group, as the apiserver names them)."""
    if not rtype.group:
        prefix = "io.k8s.api.core"
    elif "." not in rtype.group:
        prefix = f"io.k8s.api.{rtype.group}"
    else:
        prefix = ".".join(reversed(rtype.group.split(".")))
    return f"{prefix}.{rtype.version}.{rtype.kind}"


def _gvk(rtype: ResourceType) -> JsonObj:
    return {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}


def _builtin_schema(rtype: ResourceType) -> JsonObj:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "description": f"{rtype.kind} (the emulator serves it without its full schema).",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": dict(loose),
            "status": dict(loose),
        },
    }


def _base_path(rtype: ResourceType) -> str:
    root = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
    return f"{root}/namespaces/{{namespace}}/{rtype.plural}" if rtype.namespaced else f"{root}/{rtype.plural}"


def _operation(rtype: ResourceType, action: str, ref: str, patch_types: Sequence[str] = ()) -> JsonObj:
    op: JsonObj = {
        "operationId": f"{action}{rtype.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rtype),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
        },
    }
    if action in ("post", "put", "patch"):
        op["parameters"] = [
            {"name": name, "in": "query", "schema": {"type": "string"}} for name in WRITE_PARAMETERS
        ]
        media = patch_types or ("application/json",)
        op["requestBody"] = {"content": {m: {"schema": {"$ref": ref}} for m in media}, "required": True}
    return op


def group_version_document(types: Sequence[ResourceType], schemas: dict[ResourceType, JsonObj]) -> JsonObj:
    """The OpenAPI v3 document of one group/version; ``schemas`` holds the custom resources'."""
    paths: JsonObj = {}
    components: JsonObj = {}
    for rtype in types:
        name = schema_name(rtype)
        ref = f"#/components/schemas/{name}"
        custom = rtype in schemas
        components[name] = {
            **(schemas[rtype] if custom else _builtin_schema(rtype)),
            "x-kubernetes-group-version-kind": [_gvk(rtype)],
        }
        patch_types = PATCH_TYPES_CUSTOM if custom or not rtype.strategic_merge else PATCH_TYPES_BUILTIN
        base = _base_path(rtype)
        paths[base] = {"get": _operation(rtype, "list", ref), "post": _operation(rtype, "post", ref)}
        paths[f"{base}/{{name}}"] = {
            "get": _operation(rtype, "get", ref),
            "put": _operation(rtype, "put", ref),
            "patch": _operation(rtype, "patch", ref, patch_types),
            "delete": _operation(rtype, "delete", ref),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.30.0"},
        "paths": paths,
        "components": {"schemas": components},
    }


def group_version_key(rtype: ResourceType) -> str:
    """The key of a group/version in the ``/openapi/v3`` index (``api/v1``, ``apis/apps/v1``)."""
    return f"apis/{rtype.group}/{rtype.version}" if rtype.group else f"api/{rtype.version}"


def document_hash(document: JsonObj) -> str:
    """The ``hash`` query kubectl caches a group/version document by (content-addressed)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()


def swagger_v2(types: Sequence[ResourceType], schemas: dict[ResourceType, JsonObj]) -> JsonObj:
    """A Swagger 2.0 document with the same definitions (for clients that read v2 as JSON)."""
    definitions = {}
    for rtype in types:
        schema = schemas.get(rtype) or _builtin_schema(rtype)
        definitions[schema_name(rtype)] = {**schema, "x-kubernetes-group-version-kind": [_gvk(rtype)]}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.30.0"},
        "paths": {},
        "definitions": definitions,
    }
