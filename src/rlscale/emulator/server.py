"""The emulator process: the Kubernetes API, the simulated cluster and ``/metrics`` on one
loopback port, in a background thread with its own event loop (tests) or in the foreground
(``rlscale emulate``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from rlscale.core.atomic_file import write_text_atomic
from rlscale.emulator import resources as res
from rlscale.emulator.api import KubeApi
from rlscale.emulator.cluster import Cluster
from rlscale.emulator.custom import check_crd, established
from rlscale.emulator.faults import FaultInjector
from rlscale.emulator.services import EmulatedService
from rlscale.emulator.store import JsonObj, ObjectStore
from rlscale.emulator.tls import ServingCertificate, make_serving_certificate

log = logging.getLogger(__name__)
T = TypeVar("T")


def write_kubeconfig(
    path: str | os.PathLike[str],
    server_url: str,
    *,
    token: str | None = None,
    ca_pem: bytes | None = None,
    namespace: str = "default",
    context: str = "rlscale-emulator",
) -> Path:
    """Write a kubeconfig for ``server_url`` that kubectl, ``kubernetes.config.load_kube_config``
    and kopf accept (``ca_pem`` goes in as ``certificate-authority-data``, as kubeadm writes
    it); written atomically (temp file + rename). JSON is valid YAML."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": server_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": user}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }
    return write_text_atomic(path, json.dumps(config, indent=2))


class _MetricsHooks:
    """Adapts the cluster to what the API layer asks of it."""

    def __init__(self, cluster: Cluster) -> None:
        from prometheus_client import CollectorRegistry

        self.cluster = cluster
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    def collect(self) -> list:
        return self.cluster.collect()

    def on_deployment_written(self, namespace: str, name: str) -> None:
        self.cluster.on_deployment_written(namespace, name)

    def metrics_text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


async def _bind(runner: web.AppRunner, host: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
    """Start a site for ``runner`` and return the port it bound (``port=0``: a free one)."""
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server = site._server  # aiohttp keeps the bound socket here
    assert server is not None
    return int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


class Emulator:
    """An emulated Kubernetes cluster on ``127.0.0.1``.

    Use ``with Emulator(services, step_s=1.0) as emu:`` (a background thread), or
    ``await emu.serve_forever()`` in the foreground. ``emu.url`` is the API server URL (https
    with a CA made for this run, ``emu.certificate``; ``tls=False`` serves plain http),
    ``emu.metrics_url`` the scrape target (plain http on its own port, as pods' metrics
    are), ``emu.faults`` the fault injector, ``emu.write_kubeconfig(path)`` a kubeconfig for
    kubectl and the official client. ``crds`` are CustomResourceDefinitions installed at
    start; other custom resources are served once their CRD is created through the API.
    """

    def __init__(
        self,
        services: list[EmulatedService],
        *,
        step_s: float | None = None,
        speedup: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        seed: int = 0,
        auto_step: bool = True,
        tls: bool = True,
        crds: Sequence[JsonObj] = (),
        metrics_port: int = 0,
    ) -> None:
        if step_s is None:
            step_s = services[0].params.step_s if services else 1.0
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._requested_metrics_port = metrics_port
        self.metrics_port: int | None = None
        self.certificate: ServingCertificate | None = make_serving_certificate(host) if tls else None
        self.token = token if token is not None else secrets.token_hex(16)
        self.store = ObjectStore()
        self.faults = FaultInjector()
        self._install(crds)
        self.cluster = Cluster(self.store, services, step_s=step_s, speedup=speedup, seed=seed)
        self._hooks = _MetricsHooks(self.cluster)
        self.api = KubeApi(self.store, self.faults, self._hooks, token=self.token)
        self.auto_step = auto_step
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._metrics_runner: web.AppRunner | None = None
        self._stepper: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def _install(self, crds: Sequence[JsonObj]) -> None:
        """The system namespaces every cluster has, and the CRDs asked for, as if created."""
        for name in res.SYSTEM_NAMESPACES:
            self.store.create(res.NAMESPACES, None, {"metadata": {"name": name}})
        for crd in crds:
            check_crd(crd)
            self.store.create(res.CRDS, None, established(crd))

    # -- addresses --------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("Emulator is not running")
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def metrics_address(self) -> str:
        """``host:port`` of the plain-http ``/metrics`` endpoint (a Prometheus scrape target)."""
        if self.metrics_port is None:
            raise RuntimeError("Emulator is not running")
        return f"{self.host}:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.metrics_address}/metrics"

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting this run's CA, for raw HTTP clients (None without TLS)."""
        return self.certificate.client_context() if self.certificate is not None else None

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> Path:
        ca_pem = self.certificate.ca_pem if self.certificate is not None else None
        return write_kubeconfig(path, self.url, token=self.token, ca_pem=ca_pem, namespace=namespace)

    # -- async lifecycle ----------------------------------------------------------------
    async def start_async(self) -> None:
        """Bind the port and start stepping (in the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(self.api.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        ssl_context = self.certificate.server_context() if self.certificate is not None else None
        self.port = await _bind(self._runner, self.host, self._requested_port, ssl_context)
        self._metrics_runner = web.AppRunner(self.api.metrics_app(), access_log=None)
        await self._metrics_runner.setup()
        self.metrics_port = await _bind(self._metrics_runner, self.host, self._requested_metrics_port, None)
        self.cluster._t_last = self.cluster.clock()
        if self.auto_step:
            self._stepper = asyncio.create_task(self._step_forever())

    async def _step_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time() + self.cluster.wall_step_s
        while True:
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            try:
                self.cluster.step()
            except Exception:  # a bug in one step must not stop the cluster; it is logged
                log.exception("emulator step failed")
            next_t += self.cluster.wall_step_s
            if next_t < loop.time():  # fell behind (busy machine): do not try to catch up in a burst
                next_t = loop.time() + self.cluster.wall_step_s

    async def stop_async(self) -> None:
        if self._stepper is not None:
            self._stepper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stepper
        self.store.close_all_watches()
        for runner in (self._runner, self._metrics_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._metrics_runner = None

    async def serve_forever(self) -> None:
        await self.start_async()
        assert self._stop is not None
        try:
            await self._stop.wait()
        finally:
            await self.stop_async()

    # -- threaded lifecycle -----------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> Emulator:
        """Run in a daemon thread with its own event loop; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("Emulator already started")

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # surfaced to the starting thread
                self._startup_error = exc
                self._ready.set()
                loop.close()
                return
            self._ready.set()
            assert self._stop is not None
            try:
                loop.run_until_complete(self._stop.wait())
                loop.run_until_complete(self.stop_async())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="rlscale-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"emulator did not start within {timeout_s} s")
        if self._startup_error is not None:
            raise RuntimeError(f"emulator failed to start: {self._startup_error}") from self._startup_error
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run ``fn`` on the emulator's loop thread (store access from tests) and return its result."""
        if self._loop is None:
            return fn()

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout_s)

    # -- conveniences for tests -------------------------------------------------------
    def step(self, n: int = 1) -> None:
        """Advance the cluster ``n`` steps now (with ``auto_step=False`` for deterministic tests)."""
        for _ in range(n):
            self.call(self.cluster.step)

    def get_deployment(self, name: str, namespace: str = "default") -> JsonObj:
        return self.call(lambda: self.store.get(res.DEPLOYMENTS, namespace, name))

    def snapshot(self) -> dict[str, dict[str, float]]:
        return self.cluster.snapshot()
