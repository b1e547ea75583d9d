"""Server-side printing: the ``meta.k8s.io/v1 Table`` that ``kubectl get`` asks for
(``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``), with the columns kube-apiserver
prints for deployments and pods (pkg/printers/internalversion/printers.go), a CRD's
``additionalPrinterColumns`` for custom resources, and Name + Created At otherwise
(https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from rlscale.emulator.store import JsonObj, ResourceType

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    """Whether the client's Accept header asks for a ``meta.k8s.io/v1`` Table first."""
    first = accept.split(",")[0]
    params = {p.strip() for p in first.split(";")}
    return TABLE_MEDIA in params and "g=meta.k8s.io" in params and "v=v1" in params


def human_age(timestamp: str | None, now: _dt.datetime | None = None) -> str:
    """Age as kubectl shows it (k8s.io/apimachinery/pkg/util/duration.HumanDuration, coarsened)."""
    if not timestamp:
        return "<unknown>"
    then = _dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    seconds = int(((now or _dt.datetime.now(_dt.UTC)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


#: One step of a printer column's JSONPath: ``.field``, or a list filter ``[?(@.key=="value")]``.
_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[\?\(@\.([A-Za-z0-9_-]+)=="([^"]*)"\)\]')


def json_path(obj: Any, path: str) -> Any:
    """The value at a printer column's JSONPath, for the forms CRDs use (``.status.replicas``,
    ``.status.conditions[?(@.type=="Ready")].status``); None where nothing matches."""
    value = obj
    for match in _STEP.finditer(path.strip()):
        field, key, wanted = match.groups()
        if field is not None:
            value = value.get(field) if isinstance(value, dict) else None
        else:
            value = (
                next((i for i in value if isinstance(i, dict) and str(i.get(key)) == wanted), None)
                if isinstance(value, list)
                else None
            )
        if value is None:
            return None
    return value


def _printer_cell(column: JsonObj) -> Callable[[JsonObj], Any]:
    """A CRD column's cell; ``date`` columns show an age, as the apiserver's table convertor does."""
    path = column["jsonPath"]
    if column.get("type") == "date":
        return lambda obj: human_age(json_path(obj, path))
    return lambda obj: json_path(obj, path)


Column = tuple[str, str, str, Callable[[JsonObj], Any]]  # name, type, description, cell


def _ready_containers(pod: JsonObj) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or []) or len(statuses)
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(pod: JsonObj) -> str:
    """Phase, or the waiting reason of a container (ContainerCreating), or Terminating."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("reason") or status.get("phase") or "Unknown")


def _restarts(pod: JsonObj) -> int:
    return sum(
        int(s.get("restartCount", 0)) for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _age(obj: JsonObj) -> str:
    return human_age((obj.get("metadata") or {}).get("creationTimestamp"))


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _deployment_ready(dep: JsonObj) -> str:
    status = dep.get("status") or {}
    return f"{int(status.get('readyReplicas', 0))}/{int((dep.get('spec') or {}).get('replicas', 0))}"


NAME_COLUMN: Column = ("Name", "string", "Name must be unique within a namespace.", _name)
BUILTIN_COLUMNS: dict[tuple[str, str], tuple[Column, ...]] = {
    ("apps", "deployments"): (
        NAME_COLUMN,
        ("Ready", "string", "Number of the pod with ready state", _deployment_ready),
        (
            "Up-to-date",
            "string",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            lambda d: int((d.get("status") or {}).get("updatedReplicas", 0)),
        ),
        (
            "Available",
            "string",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            lambda d: int((d.get("status") or {}).get("availableReplicas", 0)),
        ),
        ("Age", "string", "CreationTimestamp of the object.", _age),
    ),
    ("", "pods"): (
        NAME_COLUMN,
        (
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
            _ready_containers,
        ),
        ("Status", "string", "The aggregate status of the containers in this pod.", _pod_status),
        (
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted.",
            _restarts,
        ),
        ("Age", "string", "CreationTimestamp of the object.", _age),
    ),
}


def _columns(rtype: ResourceType, printer_columns: Sequence[JsonObj] | None) -> tuple[Column, ...]:
    if printer_columns:
        return (
            NAME_COLUMN,
            *(
                (c["name"], c.get("type", "string"), c.get("description", ""), _printer_cell(c))
                for c in printer_columns
            ),
        )
    builtin = BUILTIN_COLUMNS.get((rtype.group, rtype.plural))
    if builtin is not None:
        return builtin
    created = (
        "Created At",
        "date",
        "CreationTimestamp of the object.",
        lambda o: json_path(o, ".metadata.creationTimestamp"),
    )
    return (NAME_COLUMN, created)


def table(
    rtype: ResourceType,
    objects: Sequence[JsonObj],
    resource_version: str,
    printer_columns: Sequence[JsonObj] | None = None,
) -> JsonObj:
    """The Table of ``objects``; each row carries the object's metadata (PartialObjectMetadata)."""
    columns = _columns(rtype, printer_columns)
    priorities = [0] + [int(c.get("priority", 0)) for c in printer_columns or ()]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": description,
                "priority": priorities[i] if i < len(priorities) else 0,
            }
            for i, (name, type_, description, _) in enumerate(columns)
        ],
        "rows": [
            {
                "cells": [cell(obj) for *_, cell in columns],
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata", {}),
                },
            }
            for obj in objects
        ],
    }
