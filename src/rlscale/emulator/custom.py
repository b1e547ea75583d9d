"""Custom resources are served from the CustomResourceDefinitions in the store, as on a real
API server: a resource appears in discovery, OpenAPI and the REST paths only once its CRD
has been created (and disappears when it is deleted), with the CRD's schema and printer
columns (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from rlscale.emulator.store import ApiError, JsonObj, ObjectStore, ResourceType, now_rfc3339


@dataclass(frozen=True, eq=False)
class CustomResource:
    """One served version of a CRD: its resource type, ``openAPIV3Schema`` and printer columns."""

    rtype: ResourceType
    schema: JsonObj
    printer_columns: tuple[JsonObj, ...]


def served_versions(crd: JsonObj) -> list[CustomResource]:
    """The served versions of a stored CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(
            name for name in ("status", "scale") if name in (version.get("subresources") or {})
        )
        rtype = ResourceType(
            spec["group"],
            version["name"],
            names["plural"],
            names["kind"],
            spec.get("scope", "Namespaced") == "Namespaced",
            names.get("singular", names["kind"].lower()),
            tuple(names.get("shortNames") or ()),
            subresources,
            strategic_merge=False,  # custom resources take merge and JSON patches only
        )
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        out.append(CustomResource(rtype, schema, tuple(version.get("additionalPrinterColumns") or ())))
    return out


def custom_resources(store: ObjectStore, crds: ResourceType) -> list[CustomResource]:
    """Every served version of every CRD now in the store."""
    return [cr for crd in store.list(crds) for cr in served_versions(crd)]


def check_crd(crd: JsonObj) -> None:
    """The fields a CRD needs to be served; a 422 naming the first missing one otherwise."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    problems = [
        f"spec.{field}: Required value"
        for field, value in (
            ("group", spec.get("group")),
            ("names.plural", names.get("plural")),
            ("names.kind", names.get("kind")),
            ("versions", spec.get("versions")),
        )
        if not value
    ]
    expected = f"{names.get('plural')}.{spec.get('group')}"
    name = (crd.get("metadata") or {}).get("name")
    if not problems and name != expected:
        problems.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    if problems:
        raise ApiError(
            422,
            "Invalid",
            f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: ' + ", ".join(problems),
            {"name": name, "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"},
        )


def established(crd: JsonObj) -> JsonObj:
    """``crd`` with the status the apiserver's naming and establishing controllers give an
    accepted CRD (``NamesAccepted`` and ``Established`` True; kubectl ``wait`` reads them)."""
    out = copy.deepcopy(crd)
    now = now_rfc3339()
    spec = out.get("spec") or {}
    names: dict[str, Any] = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind')}List")
    out["status"] = {
        "acceptedNames": names,
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": now,
            }
            for kind, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ],
    }
    return out
