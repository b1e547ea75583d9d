"""Writes a Deployment's replica count through its ``scale`` subresource, the one write the
controller makes, with the official ``kubernetes`` client.

- Optimistic concurrency: every patch asserts the ``resourceVersion`` it read, so a concurrent
  writer (a human with kubectl, another controller) makes it fail with 409 instead of being
  silently overwritten; on 409 the actuator re-reads and re-applies.
- Transient faults (409, 429, 5xx, timeouts, refused connections) are retried with exponential
  backoff, a bounded number of times; anything else (404, 403, 422) fails at once.
- A last line of defence independent of the safety guard: a write outside
  ``[min_replicas, max_replicas]`` is refused before any request is made.
- ``dry_run`` reads but never writes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: HTTP codes worth retrying: 409 Conflict (re-read first), 429 Too Many Requests (API priority
#: and fairness), 500/502/503/504 (apiserver or etcd hiccups), as client-go's retry helpers do
#: (k8s.io/client-go/util/retry: RetryOnConflict, and rest.Request's IsRetryableError).
RETRYABLE_STATUS = frozenset({409, 429, 500, 502, 503, 504})


class ActuatorError(RuntimeError):
    """The scale could not be read or written; ``status`` is the last HTTP code (None for a
    transport error) and ``attempts`` how many tries were made."""

    def __init__(self, message: str, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class OutOfBoundsError(ValueError):
    """A write outside [min_replicas, max_replicas] was refused (no request was made)."""


@dataclass(frozen=True)
class ScaleResult:
    """What :meth:`ScaleActuator.set_replicas` did."""

    namespace: str
    name: str
    previous_replicas: int
    requested_replicas: int
    replicas: int  # spec.replicas after the call
    written: bool
    dry_run: bool
    attempts: int
    conflicts: int
    resource_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return int(status) if isinstance(status, int) and status > 0 else None


def _retryable(exc: BaseException, *, conflict: bool) -> bool:
    """Worth another try within this decision: a quick transient failure (429, 5xx, a refused
    connection; 409 when ``conflict``). Not a timeout: a server that did not answer in
    ``request_timeout_s`` will not answer the next try either, and five of them made one
    decision take 41.6 s against a hung API server; the next period is the retry."""
    import urllib3

    status = _status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS and (conflict or status != 409)
    refused = isinstance(exc, urllib3.exceptions.NewConnectionError)  # a ConnectTimeoutError subclass
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError) and not refused:
        return False
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


class ScaleActuator:
    """Reads and writes ``apps/v1`` ``deployments/scale``.

    ``apps_api`` is a ``kubernetes.client.AppsV1Api`` (see :meth:`from_config`). ``sleep`` is
    injectable so tests need not wait out the backoff.
    """

    def __init__(
        self,
        apps_api: Any,
        *,
        min_replicas: int,
        max_replicas: int,
        dry_run: bool = False,
        max_attempts: int = 5,
        base_backoff_s: float = 0.1,
        max_backoff_s: float = 2.0,
        request_timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (
            isinstance(min_replicas, int)
            and isinstance(max_replicas, int)
            and 0 <= min_replicas <= max_replicas
        ):
            raise ValueError(
                f"ScaleActuator: need integers 0 <= min_replicas <= max_replicas, got {min_replicas}, {max_replicas}"
            )
        if max_attempts < 1:
            raise ValueError(f"ScaleActuator: max_attempts must be >= 1, got {max_attempts}")
        if base_backoff_s < 0 or max_backoff_s < base_backoff_s:
            raise ValueError("ScaleActuator: need 0 <= base_backoff_s <= max_backoff_s")
        if not request_timeout_s > 0:
            raise ValueError(f"ScaleActuator: request_timeout_s must be > 0, got {request_timeout_s}")
        self.api = apps_api
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.dry_run = dry_run
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.request_timeout_s = request_timeout_s
        self.sleep = sleep

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        kubeconfig: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        in_cluster: bool | None = None,
        **kwargs: Any,
    ) -> ScaleActuator:
        """Load credentials: ``kubeconfig`` if given; else in-cluster when running in a pod
        (``in_cluster=None`` detects ``KUBERNETES_SERVICE_HOST``); else the default kubeconfig
        (``$KUBECONFIG`` or ``~/.kube/config``)."""
        return cls(apps_api(kubeconfig, context=context, in_cluster=in_cluster), **kwargs)

    # -- reads --------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.base_backoff_s * (2 ** (attempt - 1)))

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn`` with retries on transient errors (not 409: conflicts are handled by the caller)."""
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except Exception as exc:
                status = _status_of(exc)
                if not _retryable(exc, conflict=False):
                    raise ActuatorError(f"{what} failed: {_describe(exc)}", status, attempt) from exc
                last = exc
                if attempt < self.max_attempts:
                    self.sleep(self._backoff(attempt))
        assert last is not None
        raise ActuatorError(
            f"{what} failed after {self.max_attempts} attempts: {_describe(last)}",
            _status_of(last),
            self.max_attempts,
        ) from last

    def read_scale(self, namespace: str, name: str) -> tuple[int, str]:
        """``(spec.replicas, resourceVersion)`` of the scale subresource."""
        scale = self._call(
            f"read scale of {namespace}/{name}",
            lambda: self.api.read_namespaced_deployment_scale(
                name, namespace, _request_timeout=self.request_timeout_s
            ),
        )
        return int(scale.spec.replicas or 0), str(scale.metadata.resource_version)

    def get_replicas(self, namespace: str, name: str) -> int:
        return self.read_scale(namespace, name)[0]

    # -- the write ----------------------------------------------------------------------
    def check_bounds(self, replicas: int) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int | _np_integer()):
            raise OutOfBoundsError(f"replicas must be an integer, got {replicas!r}")
        if not self.min_replicas <= int(replicas) <= self.max_replicas:
            raise OutOfBoundsError(
                f"refusing to scale to {replicas}: outside [{self.min_replicas}, {self.max_replicas}]"
            )

    def set_replicas(self, namespace: str, name: str, replicas: int) -> ScaleResult:
        """Make ``spec.replicas == replicas``. Raises :class:`OutOfBoundsError` (before any
        request) outside the bounds and :class:`ActuatorError` when retries run out."""
        self.check_bounds(replicas)
        replicas = int(replicas)
        conflicts = 0
        last: BaseException | None = None
        previous = -1
        for attempt in range(1, self.max_attempts + 1):
            current, rv = self.read_scale(namespace, name)
            if attempt == 1:
                previous = current
            if current == replicas or self.dry_run:
                return ScaleResult(
                    namespace, name, previous, replicas, current, False, self.dry_run, attempt, conflicts, rv
                )
            body = {"metadata": {"resourceVersion": rv}, "spec": {"replicas": replicas}}
            try:
                scale = self.api.patch_namespaced_deployment_scale(
                    name, namespace, body, _request_timeout=self.request_timeout_s
                )
            except Exception as exc:
                status = _status_of(exc)
                if not _retryable(exc, conflict=True):
                    raise ActuatorError(
                        f"scale {namespace}/{name} to {replicas} failed: {_describe(exc)}", status, attempt
                    ) from exc
                conflicts += status == 409
                last = exc
                if attempt < self.max_attempts:
                    # a conflict is re-read and re-applied at once; other faults back off first
                    self.sleep(0.0 if status == 409 else self._backoff(attempt))
                continue
            return ScaleResult(
                namespace,
                name,
                previous,
                replicas,
                int(scale.spec.replicas),
                True,
                False,
                attempt,
                conflicts,
                str(scale.metadata.resource_version),
            )
        assert last is not None
        raise ActuatorError(
            f"scale {namespace}/{name} to {replicas} failed after {self.max_attempts} attempts: {_describe(last)}",
            _status_of(last),
            self.max_attempts,
        ) from last


def _np_integer() -> type:
    import numpy as np

    return np.integer


def _describe(exc: BaseException) -> str:
    status = _status_of(exc)
    reason = getattr(exc, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".strip()
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def apps_api(
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    context: str | None = None,
    in_cluster: bool | None = None,
) -> Any:
    """An ``AppsV1Api`` from a kubeconfig file, the in-cluster service account, or the default
    kubeconfig (see :meth:`ScaleActuator.from_config`)."""
    from kubernetes import client, config

    # the actuator's own loop is the only retry: urllib3's default (3 more tries of a request
    # that timed out) multiplied every timeout by 4
    configuration = client.Configuration()
    configuration.retries = False
    try:
        _load_configuration(configuration, kubeconfig, context, in_cluster)
    except config.ConfigException as exc:  # no or broken kubeconfig: the user's to fix
        raise ValueError(f"--kubeconfig: {exc}") from exc
    return client.AppsV1Api(client.ApiClient(configuration))


def _load_configuration(
    configuration: Any,
    kubeconfig: str | os.PathLike[str] | None,
    context: str | None,
    in_cluster: bool | None,
) -> None:
    from kubernetes import config

    if kubeconfig is not None:
        if not os.path.isfile(kubeconfig):
            raise FileNotFoundError(f"kubeconfig {os.fspath(kubeconfig)!r} is not a file")
        config.load_kube_config(
            config_file=os.fspath(kubeconfig), context=context, client_configuration=configuration
        )
    else:
        if in_cluster is None:
            in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(context=context, client_configuration=configuration)
