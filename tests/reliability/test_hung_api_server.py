"""Against an API server that accepts connections and never answers (issue 14, case 6), one
decision makes one request per call, not 5 attempts x urllib3's 4 tries (41.6 s at
--api-timeout 2). The hung server counts the requests it was sent, so no clock is read."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlscale.controller.actuator import ActuatorError, ScaleActuator

pytest.importorskip("kubernetes")


class HungServer:
    """Accepts TCP connections, reads the request, never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hung(tmp_path: Path) -> Iterator[tuple[HungServer, Path]]:
    server = HungServer()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    yield server, kubeconfig
    server.close()


def test_a_timeout_is_not_retried_within_a_decision(hung: tuple[HungServer, Path]) -> None:
    server, kubeconfig = hung
    sleeps: list[float] = []
    actuator = ScaleActuator.from_config(
        kubeconfig, min_replicas=1, max_replicas=10, request_timeout_s=0.3, sleep=sleeps.append
    )
    with pytest.raises(ActuatorError, match="read scale of default/web failed"):
        actuator.get_replicas("default", "web")
    with pytest.raises(ActuatorError):
        actuator.set_replicas("default", "web", 3)
    assert server.connections == 2  # one request each: no urllib3 retries, no actuator retries
    assert sleeps == []  # and no backoff


def test_a_refused_connection_is_still_retried(tmp_path: Path) -> None:
    """Quick transient faults keep their retries (only timeouts lost them)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connection refused
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    sleeps: list[float] = []
    actuator = ScaleActuator.from_config(
        kubeconfig, min_replicas=1, max_replicas=10, max_attempts=3, sleep=sleeps.append
    )
    with pytest.raises(ActuatorError, match="after 3 attempts"):
        actuator.get_replicas("default", "web")
    assert len(sleeps) == 2
