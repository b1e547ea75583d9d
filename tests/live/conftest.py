"""Shared live fixtures: the emulated cluster and a real Prometheus scraping it.

Fixtures (use them from any test under tests/live/):

- ``emulator`` (module scope): a running :class:`rlscale.emulator.Emulator` with one service,
  Deployment ``default/web`` (the ``fast`` preset: 1 s steps, pods Ready 2 s after creation,
  10 req/s per pod, fluid arrivals), constant load ``WEB_LOAD_RPS`` = 25 req/s, 2 replicas.
  The cluster has the RLAutoscaler CRD (``deploy/crd.yaml``); the API is https with a CA made
  for the run (``emu.client_ssl_context()`` for raw clients), ``/metrics`` plain http.
- ``kubeconfig`` (module scope): path of a kubeconfig for ``emulator`` (https, CA data + token);
  ``kubernetes.config.load_kube_config(config_file=str(kubeconfig))`` and kopf accept it.
- ``emulator_factory`` (function scope): ``emulator_factory(services=None, **Emulator kwargs)``
  starts a fresh emulator (stopped at teardown; ``crds=[]`` for none); ``services`` defaults to the ``web`` service
  above. Use it when a test changes cluster state or needs its own load curve.
- ``prometheus_binary`` (session scope): path of Debian's ``prometheus``. Absent: skip with a
  clear message, or fail when ``CI=true`` (CI installs it, see .ci/run).
- ``prometheus`` (module scope): a :class:`PrometheusServer` on a free loopback port scraping
  ``emulator``'s ``/metrics`` every 1 s (``scrape_interval``/``evaluation_interval`` 1 s).
- ``prometheus_factory`` (function scope): ``prometheus_factory(targets)`` starts another one
  scraping the given ``host:port`` targets (stopped at teardown); the fault tests stop it
  mid-run with ``.stop()`` and bring it back with ``.start()``.

``PrometheusServer.wait_for(expr, predicate, timeout_s)`` polls an instant query until the
predicate holds on its first sample value (for waiting until a series exists or a rate settles).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlscale.emulator import EmulatedService, Emulator, constant_load, fast_params

#: The offered load of the default ``web`` service, req/s.
WEB_LOAD_RPS = 25.0
WEB_INITIAL_REPLICAS = 2
PROMETHEUS_PATH = "/usr/bin/prometheus"


def default_services() -> list[EmulatedService]:
    return [
        EmulatedService(
            name="web",
            params=fast_params("web"),
            load=constant_load(WEB_LOAD_RPS),
            initial_replicas=WEB_INITIAL_REPLICAS,
        )
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """A Debian ``prometheus`` child process with a temp config and TSDB."""

    def __init__(
        self, binary: str, workdir: Path, targets: list[str], scrape_interval_s: float = 1.0
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.targets = list(targets)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "prometheus.yml"
        self.storage_path = workdir / "tsdb"
        self.log_path = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        interval = f"{int(scrape_interval_s * 1000)}ms"
        config = {
            "global": {
                "scrape_interval": interval,
                "evaluation_interval": interval,
                "scrape_timeout": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "emulator",
                    "honor_labels": True,  # keep the exporters' namespace/pod labels, as for kube-state-metrics
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

    def start(self, timeout_s: float = 20.0) -> PrometheusServer:
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.storage_path}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as rsp:
                    if rsp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus not ready within {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the ``result`` list of the vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5.0) as rsp:
            body = json.load(rsp)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus query {expr!r} failed: {body}")
        return body["data"]["result"]

    def wait_for(self, expr: str, predicate: Callable[[float], bool], timeout_s: float = 20.0) -> float:
        """Poll ``expr`` until ``predicate(first sample value)`` holds; returns that value."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                last = float(result[0]["value"][1])
                if predicate(last):
                    return last
            time.sleep(0.25)
        raise AssertionError(
            f"prometheus: {expr!r} did not satisfy the condition within {timeout_s} s (last {last})"
        )


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    path = PROMETHEUS_PATH if os.path.exists(PROMETHEUS_PATH) else shutil.which("prometheus")
    if path is None:
        message = (
            "Debian's prometheus binary is not installed (expected /usr/bin/prometheus); "
            "install it with `apt-get install prometheus` to run the live Prometheus tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return path


def _target(emu: Emulator) -> str:
    return emu.metrics_address


def default_crds() -> list[dict[str, Any]]:
    """The CRDs the emulated cluster starts with: RLAutoscaler, as ``deploy/crd.yaml`` installs it."""
    from rlscale.controller.crd import crd_manifest

    return [crd_manifest()]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = Emulator(default_services(), crds=default_crds()).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def kubeconfig(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return emulator.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(services: list[EmulatedService] | None = None, **kwargs: Any) -> Emulator:
        kwargs.setdefault("crds", default_crds())
        emu = Emulator(default_services() if services is None else services, **kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_binary: str, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    server = PrometheusServer(prometheus_binary, tmp_path_factory.mktemp("prometheus"), [_target(emulator)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus_factory(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., PrometheusServer]]:
    started: list[PrometheusServer] = []

    def make(targets: list[str] | Emulator, scrape_interval_s: float = 1.0) -> PrometheusServer:
        if isinstance(targets, Emulator):
            targets = [_target(targets)]
        server = PrometheusServer(
            prometheus_binary, tmp_path_factory.mktemp("prometheus"), targets, scrape_interval_s
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()
