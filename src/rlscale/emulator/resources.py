"""The resource types the emulator serves, and the patch formats the apiserver accepts.

The built-in set is what the rlscale controller (deployments/scale), the kopf operator (CRDs,
events, leases for leader election) and the tests (pods, namespaces) touch; custom resources
(``RLAutoscaler``) are served once their CRD is created (``emulator.custom``). Discovery
answers from these, so kopf and the official client see exactly the resources that work.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from rlscale.emulator.store import ApiError, JsonObj, ResourceType

NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", False, "namespace", ("ns",), ("status",))
PODS = ResourceType("", "v1", "pods", "Pod", True, "pod", ("po",), ("status",))
CORE_EVENTS = ResourceType("", "v1", "events", "Event", True, "event", ("ev",))
DEPLOYMENTS = ResourceType(
    "apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",), ("scale", "status")
)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "lease")
EVENTS_V1 = ResourceType("events.k8s.io", "v1", "events", "Event", True, "event", ("ev",))
CRDS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    False,
    "customresourcedefinition",
    ("crd", "crds"),
    ("status",),
)
# Stored as given (no controller acts on them): what installing rlscale itself writes
# (kubectl apply -k deploy/, the Helm chart), so an install can be tried on the emulator.
SERVICE_ACCOUNTS = ResourceType(
    "", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", ("sa",)
)
SERVICES = ResourceType("", "v1", "services", "Service", True, "service", ("svc",), ("status",))
CONFIG_MAPS = ResourceType("", "v1", "configmaps", "ConfigMap", True, "configmap", ("cm",))
_RBAC = "rbac.authorization.k8s.io"
ROLES = ResourceType(_RBAC, "v1", "roles", "Role", True, "role")
ROLE_BINDINGS = ResourceType(_RBAC, "v1", "rolebindings", "RoleBinding", True, "rolebinding")
CLUSTER_ROLES = ResourceType(_RBAC, "v1", "clusterroles", "ClusterRole", False, "clusterrole")
CLUSTER_ROLE_BINDINGS = ResourceType(
    _RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False, "clusterrolebinding"
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    PODS,
    CORE_EVENTS,
    DEPLOYMENTS,
    LEASES,
    EVENTS_V1,
    CRDS,
    SERVICE_ACCOUNTS,
    SERVICES,
    CONFIG_MAPS,
    ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLES,
    CLUSTER_ROLE_BINDINGS,
)
#: Namespaces every cluster starts with (kube-apiserver's system namespaces controller).
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

#: The version string /version reports: the Kubernetes minor the emulated API follows.
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-rlscale-emulator",
    "platform": "linux/amd64",
}


def find_type(types: Sequence[ResourceType], group: str, version: str, plural: str) -> ResourceType | None:
    for rtype in types:
        if rtype.group == group and rtype.version == version and rtype.plural == plural:
            return rtype
    return None


# -- discovery ------------------------------------------------------------------------
def api_versions() -> JsonObj:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def api_group_list(types: Sequence[ResourceType]) -> JsonObj:
    groups: dict[str, list[str]] = {}
    for rtype in types:
        if rtype.group and rtype.version not in groups.setdefault(rtype.group, []):
            groups[rtype.group].append(rtype.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]},
            }
            for name, versions in groups.items()
        ],
    }


def api_group(types: Sequence[ResourceType], group: str) -> JsonObj | None:
    for entry in api_group_list(types)["groups"]:
        if entry["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def api_resource_list(types: Sequence[ResourceType], group: str, version: str) -> JsonObj | None:
    types = [t for t in types if t.group == group and t.version == version]
    if not types:
        return None
    resources: list[JsonObj] = []
    for t in types:
        resources.append(
            {
                "name": t.plural,
                "singularName": t.singular,
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
                **({"shortNames": list(t.short_names)} if t.short_names else {}),
            }
        )
        for sub in t.subresources:
            if sub == "scale":
                resources.append(
                    {
                        "name": f"{t.plural}/scale",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "group": "autoscaling",
                        "version": "v1",
                        "kind": "Scale",
                        "verbs": ["get", "patch", "update"],
                    }
                )
            else:
                resources.append(
                    {
                        "name": f"{t.plural}/{sub}",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# -- patches --------------------------------------------------------------------------
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, anything
    else (lists included) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch, for the fields the emulator's built-in objects have.

    Lists of objects with a ``name`` merge key (containers, env, ports, conditions by
    ``type``) merge by that key as the apiserver does; other lists replace; ``$patch:
    delete`` on a map removes it. Enough for kubectl-style patches of deployments and
    scale; other directives (``$setElementOrder``, ``$retainKeys``) are rejected with 400.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "delete":
        return None
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            raise ApiError(400, "BadRequest", f"strategic merge patch directive {key!r} is not supported")
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list) and value and _merge_key(value):
            result[key] = _merge_list(result[key], value, _merge_key(value))
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_key(items: list[Any]) -> str | None:
    for candidate in ("name", "type", "containerPort"):
        if all(isinstance(i, dict) and candidate in i for i in items):
            return candidate
    return None


def _merge_list(current: list[Any], patch: list[Any], key: str | None) -> list[Any]:
    result = copy.deepcopy(current)
    for item in patch:
        index = next(
            (i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch (the ``jsonpatch`` package); a failing ``test`` or a bad path is
    422 as on the apiserver."""
    import jsonpatch

    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "json patch body must be a list of operations")
    try:
        return jsonpatch.apply_patch(target, operations)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:  # type: ignore[attr-defined]
        raise ApiError(422, "Invalid", f"json patch could not be applied: {exc}") from exc


def apply_patch(rtype: ResourceType, target: JsonObj, content_type: str, body: Any) -> JsonObj:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == MERGE_PATCH:
        result = merge_patch(target, body)
    elif ctype == STRATEGIC_MERGE_PATCH:
        if not rtype.strategic_merge:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}",
            )
        result = strategic_merge_patch(target, body)
    elif ctype == JSON_PATCH:
        result = json_patch(target, body)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}",
        )
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "patch result is not an object")
    return result
