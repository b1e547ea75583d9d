"""The Kubernetes REST API, as far as the controller, kopf and the tests use it.

Paths follow the apiserver exactly (``/api/v1/namespaces/{ns}/pods``,
``/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}[/{subresource}]``), errors are
``Status`` objects with ``reason`` and ``code``, list responses carry the collection's
``resourceVersion``, and ``?watch=true`` streams newline-delimited JSON watch events
(https://kubernetes.io/docs/reference/using-api/api-concepts/).

Why one module of ~550 lines: it is the route table of one HTTP surface (core, apps, custom
resources, discovery, watch), and every handler shares the same error, list and watch
conventions written here once; the storage, admission, tables and OpenAPI it calls already
live in their own modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from rlscale.emulator import openapi
from rlscale.emulator import resources as res
from rlscale.emulator.admission import admit
from rlscale.emulator.custom import CustomResource, check_crd, custom_resources, established
from rlscale.emulator.faults import FaultInjector, reason_for
from rlscale.emulator.selectors import parse_field_selector, parse_label_selector
from rlscale.emulator.store import ApiError, JsonObj, ObjectStore, ResourceType, status_object
from rlscale.emulator.tables import table, wants_table

log = logging.getLogger(__name__)

#: The apiserver ends a watch after a random 30-60 min (``--min-request-timeout`` 1800 s);
#: the emulator uses the lower end when the client sets no ``timeoutSeconds``.
DEFAULT_WATCH_TIMEOUT_S = 1800.0
#: Scale spec.replicas is an int32 (k8s.io/api/autoscaling/v1 ScaleSpec); larger is refused.
MAX_INT32 = 2**31 - 1
#: How often an idle watch with ``allowWatchBookmarks`` gets a BOOKMARK (the apiserver sends
#: them about once a minute; shorter here so short tests see them).
BOOKMARK_INTERVAL_S = 5.0


class ClusterHooks(Protocol):
    """What the API layer asks of the simulated cluster."""

    def on_deployment_written(self, namespace: str, name: str) -> None: ...

    def metrics_text(self) -> tuple[bytes, str]: ...


def _json(body: JsonObj, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


class KubeApi:
    """Builds the aiohttp application for one store."""

    def __init__(
        self,
        store: ObjectStore,
        faults: FaultInjector,
        hooks: ClusterHooks | None = None,
        token: str | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.hooks = hooks
        self.token = token
        self.request_count = 0

    # -- application ------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/version", self._version)
        app.router.add_get("/healthz", self._ok)
        app.router.add_get("/readyz", self._ok)
        app.router.add_get("/livez", self._ok)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api", self._api_versions)
        app.router.add_get("/apis", self._api_groups)
        app.router.add_get("/openapi/v2", self._openapi_v2)
        app.router.add_get("/openapi/v3", self._openapi_v3_index)
        app.router.add_get("/openapi/v3/{tail:.*}", self._openapi_v3_document)
        app.router.add_route("*", "/api/{tail:.*}", self._core)
        app.router.add_route("*", "/apis/{tail:.*}", self._grouped)
        return app

    def metrics_app(self) -> web.Application:
        """``/metrics`` alone, for the plain-http scrape port."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _version(self, request: web.Request) -> web.Response:
        return _json(dict(res.KUBERNETES_VERSION))

    async def _api_versions(self, request: web.Request) -> web.Response:
        return _json(res.api_versions())

    async def _api_groups(self, request: web.Request) -> web.Response:
        return _json(res.api_group_list(self.types()))

    # -- served types -----------------------------------------------------------------
    def custom(self) -> list[CustomResource]:
        """The custom resources served now (one per served version of each stored CRD)."""
        return custom_resources(self.store, res.CRDS)

    def types(self) -> tuple[ResourceType, ...]:
        return res.RESOURCE_TYPES + tuple(cr.rtype for cr in self.custom())

    # -- OpenAPI ----------------------------------------------------------------------
    def _openapi_documents(self) -> dict[str, JsonObj]:
        schemas = {cr.rtype: cr.schema for cr in self.custom()}
        by_gv: dict[str, list[ResourceType]] = {}
        for rtype in self.types():
            by_gv.setdefault(openapi.group_version_key(rtype), []).append(rtype)
        return {key: openapi.group_version_document(types, schemas) for key, types in by_gv.items()}

    async def _openapi_v3_index(self, request: web.Request) -> web.Response:
        paths = {
            key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={openapi.document_hash(doc)}"}
            for key, doc in self._openapi_documents().items()
        }
        return _json({"paths": paths})

    async def _openapi_v3_document(self, request: web.Request) -> web.Response:
        document = self._openapi_documents().get(request.match_info["tail"].strip("/"))
        if document is None:
            raise _not_found()
        return _json(document)

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "*/*")
        if not any(m in accept for m in ("application/json", "*/*")):  # protobuf only: not served
            raise ApiError(406, "NotAcceptable", f"only application/json is served here, not {accept}")
        schemas = {cr.rtype: cr.schema for cr in self.custom()}
        return _json(openapi.swagger_v2(self.types(), schemas))

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.hooks is None:
            return web.Response(text="")
        body, content_type = self.hooks.metrics_text()
        return web.Response(body=body, headers={"Content-Type": content_type})

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        self.request_count += 1
        path = request.path
        if self.token is not None and path not in ("/metrics", "/healthz", "/readyz", "/livez"):
            if request.headers.get("Authorization", "") != f"Bearer {self.token}":
                return _json(status_object(401, "Unauthorized", "Unauthorized"), 401)
        fault = self.faults.take(request.method, path)
        if fault is not None:
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault.status is not None:
                code = fault.status
                msg = f"injected fault: {code} {reason_for(code)} for {request.method} {path}"
                return _json(status_object(code, reason_for(code), msg), code)
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc)

    # -- routing ----------------------------------------------------------------------
    async def _core(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if not parts:
            return _json(res.api_versions())
        version, rest = parts[0], parts[1:]
        return await self._dispatch(request, "", version, rest)

    async def _grouped(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if not parts:
            return _json(res.api_group_list(self.types()))
        if len(parts) == 1:
            group = res.api_group(self.types(), parts[0])
            if group is None:
                raise _not_found()
            return _json(group)
        return await self._dispatch(request, parts[0], parts[1], parts[2:])

    async def _dispatch(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        if not rest:
            listing = res.api_resource_list(self.types(), group, version)
            if listing is None or request.method != "GET":
                raise _not_found()
            return _json(listing)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        custom = {cr.rtype: cr for cr in self.custom()}
        rtype = res.find_type(self.types(), group, version, plural)
        if rtype is None:
            raise _not_found()
        if namespace is not None and not rtype.namespaced:
            raise _not_found()
        if sub is not None and sub not in rtype.subresources:
            raise _not_found()
        resource = custom.get(rtype)
        method = request.method
        if name is None:
            if method == "GET":
                if _truthy(request.query.get("watch")):
                    return await self._watch(request, rtype, namespace, resource)
                return self._list(request, rtype, namespace, resource)
            if method == "POST":
                if rtype.namespaced and namespace is None:
                    raise ApiError(
                        405, "MethodNotAllowed", "POST to a namespaced resource needs a namespace path"
                    )
                self._check_namespace(rtype, namespace)
                obj = self._admit(request, rtype, resource, await self._body(request))
                created = self.store.create(rtype, namespace, obj)
                self._written(rtype, created)
                return _json(created, 201)
            raise ApiError(405, "MethodNotAllowed", f"method {method} is not supported on a collection")
        if rtype.namespaced and namespace is None:
            raise _not_found()
        if sub == "scale":
            return await self._scale(request, rtype, namespace, name)
        if method == "GET":
            obj = self.store.get(rtype, namespace, name)
            if wants_table(request.headers.get("Accept", "")):
                return _json(self._table(rtype, [obj], obj["metadata"]["resourceVersion"], resource))
            return _json(obj)
        if method == "PUT":
            obj = self._admit(request, rtype, resource, await self._body(request), namespace, name, sub)
            written = self.store.replace(rtype, namespace, name, obj, subresource=sub)
            self._written(rtype, written)
            return _json(written)
        if method == "PATCH":
            # read the body first: no await may separate the read of the current object from
            # the write, or a concurrent writer makes an unconditional patch fail with 409
            body = await self._body(request, allow_list=True)
            current = self.store.get(rtype, namespace, name)
            patched = res.apply_patch(rtype, current, request.headers.get("Content-Type", ""), body)
            # optimistic concurrency only when the patch itself carries a resourceVersion
            sent_rv = _patch_rv(body)
            if sent_rv is None:
                patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            patched = self._admit(request, rtype, resource, patched, namespace, name, sub)
            written = self.store.replace(rtype, namespace, name, patched, subresource=sub)
            self._written(rtype, written)
            return _json(written)
        if method == "DELETE":
            deleted = self.store.delete(rtype, namespace, name)
            self._written(rtype, deleted)
            return _json(deleted)
        raise ApiError(405, "MethodNotAllowed", f"method {method} is not supported")

    def _check_namespace(self, rtype: ResourceType, namespace: str | None) -> None:
        """Objects are created only in namespaces that exist (the NamespaceLifecycle admission plugin)."""
        if rtype.namespaced and namespace and self.store.peek(res.NAMESPACES, None, namespace) is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )

    def _admit(
        self,
        request: web.Request,
        rtype: ResourceType,
        resource: CustomResource | None,
        obj: JsonObj,
        namespace: str | None = None,
        name: str | None = None,
        sub: str | None = None,
    ) -> JsonObj:
        """A CRD is checked and established; a custom resource is pruned, defaulted and
        validated against its CRD's schema (the whole object, also for a status write)."""
        if rtype is res.CRDS and sub is None:
            check_crd(obj)
            return established(obj)
        if resource is None:
            return obj
        strict = request.query.get("fieldValidation", "") == "Strict"
        if sub == "status" and name is not None:  # only .status is taken; validate the result
            whole = self.store.get(rtype, namespace, name)
            whole["status"] = obj.get("status", {})
            whole["metadata"]["resourceVersion"] = (obj.get("metadata") or {}).get("resourceVersion")
            return admit(rtype, resource.schema, whole, strict=strict)
        return admit(rtype, resource.schema, obj, strict=strict)

    def _table(
        self, rtype: ResourceType, objects: list[JsonObj], rv: str, resource: CustomResource | None
    ) -> JsonObj:
        return table(rtype, objects, rv, resource.printer_columns if resource is not None else None)

    def _written(self, rtype: ResourceType, obj: JsonObj) -> None:
        if rtype is res.DEPLOYMENTS and self.hooks is not None:
            meta = obj["metadata"]
            self.hooks.on_deployment_written(meta["namespace"], meta["name"])

    @staticmethod
    async def _body(request: web.Request, allow_list: bool = False) -> Any:
        raw = await request.read()
        if not raw:
            raise ApiError(400, "BadRequest", "request body is empty")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict) and not (allow_list and isinstance(body, list)):
            raise ApiError(400, "BadRequest", "request body must be a JSON object")
        return body

    # -- list and watch ---------------------------------------------------------------
    @staticmethod
    def _predicate(request: web.Request) -> Callable[[JsonObj], bool]:
        try:
            labels = parse_label_selector(request.query.get("labelSelector", ""))
            fields = parse_field_selector(request.query.get("fieldSelector", ""))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)

    def _list(
        self,
        request: web.Request,
        rtype: ResourceType,
        namespace: str | None,
        resource: CustomResource | None,
    ) -> web.Response:
        items = self.store.list(rtype, namespace, self._predicate(request))
        if wants_table(request.headers.get("Accept", "")):
            return _json(self._table(rtype, items, str(self.store.resource_version), resource))
        for item in items:  # list items omit kind/apiVersion on the apiserver; keep them (harmless)
            item.setdefault("kind", rtype.kind)
        return _json(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version), "continue": ""},
                "items": items,
            }
        )

    async def _watch(
        self,
        request: web.Request,
        rtype: ResourceType,
        namespace: str | None,
        resource: CustomResource | None = None,
    ) -> web.StreamResponse:
        predicate = self._predicate(request)
        rv_param = request.query.get("resourceVersion", "")
        timeout_s = float(request.query.get("timeoutSeconds", DEFAULT_WATCH_TIMEOUT_S))
        bookmarks = _truthy(request.query.get("allowWatchBookmarks"))
        initial_events = _truthy(request.query.get("sendInitialEvents"))

        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        as_table = wants_table(request.headers.get("Accept", ""))  # kubectl get -w: a row per event

        async def send(type_: str, obj: JsonObj) -> None:
            if as_table and type_ in ("ADDED", "MODIFIED", "DELETED"):
                obj = self._table(rtype, [obj], obj["metadata"]["resourceVersion"], resource)
            await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")

        # Snapshot and subscribe with no await in between, so no event is lost or doubled.
        backlog: list[tuple[str, JsonObj]] = []
        if rv_param in ("", "0") or initial_events:
            backlog = [("ADDED", obj) for obj in self.store.list(rtype, namespace, predicate)]
        else:
            try:
                since = int(rv_param)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv_param!r}") from None
            if since < self.store.oldest_resumable_rv:
                await send(
                    "ERROR",
                    status_object(
                        410,
                        "Expired",
                        f"too old resource version: {since} ({self.store.oldest_resumable_rv})",
                    ),
                )
                return response
            backlog = [
                (e.type, e.obj) for e in self.store.events_since(rtype, namespace, since) if predicate(e.obj)
            ]
        current_rv = self.store.resource_version
        watcher = self.store.subscribe(rtype, namespace)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            for type_, obj in backlog:
                await send(type_, obj)
            if initial_events:
                await send(
                    "BOOKMARK",
                    {
                        "kind": rtype.kind,
                        "apiVersion": rtype.api_version,
                        "metadata": {
                            "resourceVersion": str(current_rv),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), min(remaining, BOOKMARK_INTERVAL_S))
                except TimeoutError:
                    if bookmarks:
                        await send(
                            "BOOKMARK",
                            {
                                "kind": rtype.kind,
                                "apiVersion": rtype.api_version,
                                "metadata": {"resourceVersion": str(self.store.resource_version)},
                            },
                        )
                    continue
                if event is None:  # server shutting down
                    break
                if event.type == "DELETED" or predicate(event.obj):
                    await send(event.type, event.obj)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    # -- the scale subresource --------------------------------------------------------
    async def _scale(
        self, request: web.Request, rtype: ResourceType, namespace: str | None, name: str
    ) -> web.Response:
        # the body is read before the object, so nothing awaits between the read and the
        # write below (an unconditional patch must not 409 on a concurrent writer)
        body = (
            await self._body(request, allow_list=request.method == "PATCH")
            if request.method in ("PUT", "PATCH")
            else None
        )
        deployment = self.store.get(rtype, namespace, name)
        scale = scale_of(deployment)
        if request.method == "GET":
            return _json(scale)
        if request.method == "PUT":
            new_scale = body
        elif request.method == "PATCH":
            new_scale = res.apply_patch(rtype, scale, request.headers.get("Content-Type", ""), body)
            if _patch_rv(body) is None:
                new_scale.setdefault("metadata", {})["resourceVersion"] = scale["metadata"]["resourceVersion"]
        else:
            raise ApiError(405, "MethodNotAllowed", f"method {request.method} is not supported on scale")
        replicas = new_scale.get("spec", {}).get("replicas")
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: '
                "must be an integer",
                {"name": name, "group": "autoscaling", "kind": "Scale"},
            )
        if not 0 <= replicas <= MAX_INT32:
            bound = "greater than or equal to 0" if replicas < 0 else f"less than or equal to {MAX_INT32}"
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                f"must be {bound}",
                {
                    "name": name,
                    "group": "autoscaling",
                    "kind": "Scale",
                    "causes": [
                        {
                            "reason": "FieldValueInvalid",
                            "message": f"Invalid value: {replicas}: must be {bound}",
                            "field": "spec.replicas",
                        }
                    ],
                },
            )
        sent_rv = new_scale.get("metadata", {}).get("resourceVersion")
        updated = dict(deployment)
        updated["spec"] = {**deployment.get("spec", {}), "replicas": replicas}
        updated["metadata"] = {**deployment["metadata"], "resourceVersion": sent_rv}
        written = self.store.replace(rtype, namespace, name, updated)
        self._written(rtype, written)
        return _json(scale_of(written))


def _patch_rv(body: Any) -> str | None:
    """The resourceVersion a patch asserts, if any (merge patch ``metadata.resourceVersion``
    or a JSON-patch ``test``/``replace`` of ``/metadata/resourceVersion``)."""
    if isinstance(body, dict):
        rv = (body.get("metadata") or {}).get("resourceVersion")
        return None if rv in (None, "") else str(rv)
    if isinstance(body, list):
        for op in body:
            if (
                isinstance(op, dict)
                and op.get("path") == "/metadata/resourceVersion"
                and op.get("op") in ("test", "replace")
            ):
                return str(op.get("value"))
    return None


def scale_of(deployment: JsonObj) -> JsonObj:
    """The ``autoscaling/v1 Scale`` view of a deployment (same name, uid and resourceVersion)."""
    meta = deployment["metadata"]
    match = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": int(deployment.get("spec", {}).get("replicas", 1))},
        "status": {
            "replicas": int((deployment.get("status") or {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match.items())),
        },
    }
