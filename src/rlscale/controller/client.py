"""Client of the policy server, and :class:`RemotePolicy`, the Policy that ``rlscale run
--server URL`` uses instead of a local one. Standard library HTTP only (the controller loop
is synchronous); a failed call raises, and the guard falls back to the HPA."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rlscale.core.observation import ObservationBuilder
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


class PolicyServerError(RuntimeError):
    """The server answered with an error (its JSON message is in the text) or not at all."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def validate_http_url(url: str, what: str = "URL") -> str:
    """``http(s)://host[:port][/path]`` or a ValueError that names the problem."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"{what} {url!r}: scheme must be http or https")
    if not parsed.hostname:
        raise ValueError(f"{what} {url!r}: no host")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"{what} {url!r}: {exc}") from exc
    return url.rstrip("/")


def _json_safe(value: float) -> float | None:
    return value if math.isfinite(value) else None


class PolicyClient:
    """``act``, ``log_returns`` and ``healthz`` against a policy server."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 2.0) -> None:
        self.url = validate_http_url(url, "policy server URL")
        self.token = token
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("error", "")
            except Exception:
                detail = ""
            raise PolicyServerError(f"policy server {path}: HTTP {exc.code}: {detail}", exc.code) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise PolicyServerError(f"policy server {path}: {exc}") from exc

    def act(
        self,
        *,
        target: str = "default",
        signals: ScalingSignals | None = None,
        observation: np.ndarray | None = None,
        current_replicas: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"target": target}
        if signals is not None:
            body["signals"] = {
                name: _json_safe(float(np.asarray(getattr(signals, name)).reshape(-1)[0]))
                for name in ScalingSignals.field_names()
            }
        if observation is not None:
            body["observation"] = [float(v) for v in np.asarray(observation).reshape(-1)]
        if current_replicas is not None:
            body["current_replicas"] = int(current_replicas)
        return self._call("POST", "/v1/act", body)

    def log_returns(self, experiences: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", "/v1/log_returns", {"experiences": experiences})

    def healthz(self) -> dict[str, Any]:
        return self._call("GET", "/healthz")


class RemotePolicy:
    """A :class:`~rlscale.policies.base.Policy` answered by the policy server: sends this
    period's signals and the observation built here (the one shared layout) and returns
    the server's desired replicas."""

    def __init__(self, client: PolicyClient, spec: ServiceSpec, target: str = "default") -> None:
        self.client = client
        self.spec = spec
        self.num_envs = 1
        self.target = target
        self.name = f"remote:{client.url}"
        self._builder = ObservationBuilder(spec, 1)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        observation = self._builder.build(signals)[0]
        current = int(np.asarray(signals.desired_replicas).reshape(-1)[0])
        answer = self.client.act(
            target=self.target, signals=signals, observation=observation, current_replicas=current
        )
        desired = answer.get("desired_replicas")
        if isinstance(desired, bool) or not isinstance(desired, int):
            raise PolicyServerError(f"policy server answered desired_replicas={desired!r}, not an integer")
        return np.asarray([desired], dtype=np.int64)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._builder.reset(mask)

    def warm(self, rates_rps: np.ndarray) -> int:
        """Replay past request rates into the observation this client sends (a restart)."""
        return self._builder.warm(rates_rps)
