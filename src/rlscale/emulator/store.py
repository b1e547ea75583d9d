"""In-memory object store with the Kubernetes storage semantics clients rely on.

One global ``resourceVersion`` counter (like etcd's revision), per-object ``uid``,
``generation`` (bumped on spec changes), ``creationTimestamp``, optimistic concurrency
(a write that carries a stale ``metadata.resourceVersion`` fails with 409 Conflict) and a
bounded event log so watches can resume from a resourceVersion, or get 410 Gone when it
has been compacted away (https://kubernetes.io/docs/reference/using-api/api-concepts/
#efficient-detection-of-changes).

The store is not thread-safe by itself: the emulator only touches it from its event loop.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as _dt
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JsonObj = dict[str, Any]

#: How many watch events are kept for resumption. The kube-apiserver's watch cache keeps a
#: window of ~100 events per resource type by default (``--default-watch-cache-size``);
#: we keep more because all types share one log here.
EVENT_LOG_SIZE = 4096


@dataclass(frozen=True)
class ResourceType:
    """A served resource: its API group/version, plural, kind and scope."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")
    # Whether strategic-merge-patch is accepted: built-in types only; custom resources
    # answer 415 (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/).
    strategic_merge: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """``deployments.apps`` style name used in Status messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


class ApiError(Exception):
    """An error the API answers with a ``Status`` object (``reason`` and HTTP ``code``)."""

    def __init__(self, code: int, reason: str, message: str, details: JsonObj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> JsonObj:
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code: int, reason: str, message: str, details: JsonObj | None = None) -> JsonObj:
    """A ``meta/v1 Status`` as the apiserver returns with every error."""
    body: JsonObj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def not_found(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{rtype.group_kind} "{name}" not found',
        {"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def conflict(rtype: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rtype.group_kind} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def now_rfc3339() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    rtype: ResourceType
    namespace: str | None
    obj: JsonObj


@dataclass
class _Watcher:
    rtype: ResourceType
    namespace: str | None
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)


Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name


class ObjectStore:
    """Objects by (group, plural, namespace, name), with resourceVersions and watches."""

    def __init__(self) -> None:
        self._objects: dict[Key, JsonObj] = {}
        self._rv = 0
        self._log: deque[WatchEvent] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: list[_Watcher] = []

    # -- versions ---------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    @property
    def oldest_resumable_rv(self) -> int:
        """A watch from a resourceVersion older than this gets 410 Gone."""
        return self._log[0].rv - 1 if len(self._log) == self._log.maxlen else 0

    # -- reads ------------------------------------------------------------------------
    @staticmethod
    def _key(rtype: ResourceType, namespace: str | None, name: str) -> Key:
        return (rtype.group, rtype.plural, (namespace or "") if rtype.namespaced else "", name)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObj:
        obj = self._objects.get(self._key(rtype, namespace, name))
        if obj is None:
            raise not_found(rtype, name)
        return copy.deepcopy(obj)

    def peek(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObj | None:
        """The stored object itself (no copy) or None; callers must not mutate it."""
        return self._objects.get(self._key(rtype, namespace, name))

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        predicate: Callable[[JsonObj], bool] | None = None,
    ) -> list[JsonObj]:
        out = []
        for (group, plural, ns, _name), obj in sorted(self._objects.items()):
            if group != rtype.group or plural != rtype.plural:
                continue
            if namespace is not None and rtype.namespaced and ns != namespace:
                continue
            if predicate is not None and not predicate(obj):
                continue
            out.append(copy.deepcopy(obj))
        return out

    # -- writes -----------------------------------------------------------------------
    def create(self, rtype: ResourceType, namespace: str | None, obj: JsonObj) -> JsonObj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(
                    422,
                    "Invalid",
                    f"{rtype.kind} is invalid: metadata.name: Required value: name or generateName is required",
                )
            meta["name"] = prefix + secrets.token_hex(3)[:5]
        name = meta["name"]
        if rtype.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        key = self._key(rtype, meta.get("namespace"), name)
        if key in self._objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rtype.group_kind} "{name}" already exists',
                {"name": name, "group": rtype.group, "kind": rtype.plural},
            )
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        meta["resourceVersion"] = str(self._next_rv())
        self._objects[key] = obj
        self._emit("ADDED", rtype, obj)
        return copy.deepcopy(obj)

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        obj: JsonObj,
        *,
        subresource: str | None = None,
    ) -> JsonObj:
        """Store ``obj`` as the new state. A ``metadata.resourceVersion`` in ``obj`` must match
        the stored one (optimistic concurrency); without one the write is unconditional.
        With ``subresource="status"`` only ``.status`` is taken from ``obj``; otherwise
        ``.status`` is kept for types that have a status subresource (the apiserver's rule)."""
        key = self._key(rtype, namespace, name)
        current = self._objects.get(key)
        if current is None:
            raise not_found(rtype, name)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        sent_rv = meta.get("resourceVersion")
        if sent_rv not in (None, "") and str(sent_rv) != current["metadata"]["resourceVersion"]:
            raise conflict(rtype, name)
        if meta.get("name") not in (None, name):
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})",
            )
        if subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = obj.get("status", {})
        else:
            new = obj
            for k in ("uid", "creationTimestamp", "generation", "namespace", "name"):
                if k in current["metadata"]:
                    new["metadata"][k] = current["metadata"][k]
            new["apiVersion"] = rtype.api_version
            new["kind"] = rtype.kind
            if "status" in rtype.subresources:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if _without_rv(new) == _without_rv(current):
            return copy.deepcopy(current)  # no-op writes do not bump the resourceVersion
        new["metadata"]["resourceVersion"] = str(self._next_rv())
        self._objects[key] = new
        self._emit("MODIFIED", rtype, new)
        return copy.deepcopy(new)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObj:
        key = self._key(rtype, namespace, name)
        obj = self._objects.pop(key, None)
        if obj is None:
            raise not_found(rtype, name)
        obj["metadata"]["resourceVersion"] = str(self._next_rv())
        self._emit("DELETED", rtype, obj)
        return copy.deepcopy(obj)

    # -- watches ----------------------------------------------------------------------
    def _emit(self, type_: str, rtype: ResourceType, obj: JsonObj) -> None:
        event = WatchEvent(
            rv=int(obj["metadata"]["resourceVersion"]),
            type=type_,
            rtype=rtype,
            namespace=obj["metadata"].get("namespace"),
            obj=copy.deepcopy(obj),
        )
        self._log.append(event)
        for watcher in self._watchers:
            if _matches(watcher, event):
                watcher.queue.put_nowait(event)

    def subscribe(self, rtype: ResourceType, namespace: str | None) -> _Watcher:
        watcher = _Watcher(rtype, namespace)
        self._watchers.append(watcher)
        return watcher

    def unsubscribe(self, watcher: _Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
        watcher.queue.put_nowait(None)

    def close_all_watches(self) -> None:
        for watcher in list(self._watchers):
            self.unsubscribe(watcher)

    def events_since(self, rtype: ResourceType, namespace: str | None, rv: int) -> Iterable[WatchEvent]:
        probe = _Watcher.__new__(_Watcher)
        probe.rtype, probe.namespace = rtype, namespace
        return [e for e in self._log if e.rv > rv and _matches(probe, e)]


def _matches(watcher: _Watcher, event: WatchEvent) -> bool:
    if event.rtype.group != watcher.rtype.group or event.rtype.plural != watcher.rtype.plural:
        return False
    return watcher.namespace is None or event.namespace == watcher.namespace


def _without_rv(obj: JsonObj) -> JsonObj:
    stripped = dict(obj)
    stripped["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return stripped
