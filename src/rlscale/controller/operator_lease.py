"""Leader election over a ``coordination.k8s.io/v1`` Lease, so that of several operator
replicas exactly one acts (patches scale, status, events) at any time.

kopf's own peering needs its ``KopfPeering`` CRDs and only pauses *all* handling; a Lease
is what every Kubernetes controller (kube-controller-manager, client-go's
``leaderelection``) uses, needs only ``leases`` RBAC, and lets the followers keep their
watch caches warm so a take-over is immediate.

Semantics follow client-go ``tools/leaderelection``:

* A candidate takes the lease when it is free or when its record (holder, renewTime,
  resourceVersion) has not changed for ``lease_duration_s`` *as observed on the local
  clock* (not by comparing the remote timestamp, so clock skew between nodes is harmless).
* Writes carry the resourceVersion read, so two candidates racing for an expired lease
  cannot both win: the loser gets 409 Conflict.
* The leader considers itself leader only until ``renew_deadline_s`` after its last
  successful renewal, which is shorter than the lease duration: a leader cut off from the
  API server stops acting before any follower can take over.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

from rlscale.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

#: client-go leaderelection defaults (LeaseDuration 15 s, RenewDeadline 10 s, RetryPeriod 2 s),
#: as used by kube-controller-manager's --leader-elect-* flags.
DEFAULT_LEASE_DURATION_S = 15
DEFAULT_RENEW_DEADLINE_S = 10.0
DEFAULT_RETRY_PERIOD_S = 2.0


def _now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class LeaseConfig:
    """Timing of the election. ``lease_duration_s`` is an integer because the Lease API
    stores ``leaseDurationSeconds`` as int32."""

    namespace: str
    name: str = "rlscale-operator"
    lease_duration_s: int = DEFAULT_LEASE_DURATION_S
    renew_deadline_s: float = DEFAULT_RENEW_DEADLINE_S
    retry_period_s: float = DEFAULT_RETRY_PERIOD_S

    def __post_init__(self) -> None:
        if self.lease_duration_s < 1:
            raise ValueError(f"lease duration must be >= 1 s, got {self.lease_duration_s}")
        if not 0 < self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(
                "need 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period_s} / {self.renew_deadline_s} / {self.lease_duration_s} s"
            )

    @classmethod
    def scaled(cls, namespace: str, name: str, lease_duration_s: int) -> LeaseConfig:
        """Renew deadline and retry period in client-go's proportions (10/15 and 2/15)."""
        return cls(
            namespace=namespace,
            name=name,
            lease_duration_s=lease_duration_s,
            renew_deadline_s=lease_duration_s * 2.0 / 3.0,
            retry_period_s=lease_duration_s * 2.0 / 15.0,
        )


class LeaseElector:
    """One candidate. Call :meth:`try_acquire_or_renew` every ``retry_period_s``; read
    :attr:`is_leader` right before acting. Rounds and :meth:`release` hold one lock, and no
    round runs after a release: the operator runs rounds in a worker thread, and a round still
    in flight when it shuts down would otherwise re-acquire the lease it just gave up."""

    def __init__(self, api: Any, config: LeaseConfig, identity: str, clock: Clock | None = None) -> None:
        """``api`` is a ``kubernetes.client.CoordinationV1Api``."""
        self.api = api
        self.config = config
        self.identity = identity
        self.clock = clock or SystemClock()
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at_s = 0.0
        self._renewed_at_s: float | None = None
        self.transitions = 0  # times this candidate became leader
        self._lock = threading.Lock()
        self._released = False

    # ------------------------------------------------------------------ state
    @property
    def is_leader(self) -> bool:
        """True while the last successful renewal is younger than the renew deadline."""
        if self._renewed_at_s is None:
            return False
        return self.clock.now() - self._renewed_at_s < self.config.renew_deadline_s

    @property
    def holder(self) -> str | None:
        """The holder last seen in the Lease (may be another replica)."""
        return None if self._observed_record is None else self._observed_record[0]

    # ------------------------------------------------------------------ protocol
    def try_acquire_or_renew(self) -> bool:
        """One round of the election; returns whether this candidate leads afterwards.
        API errors are logged and count as a failed round (never raised)."""
        from kubernetes.client.exceptions import ApiException

        with self._lock:
            if self._released:
                return False
            try:
                return self._round()
            except ApiException as exc:
                if exc.status != 409:
                    log.warning(
                        "lease %s/%s: API error %s: %s",
                        self.config.namespace,
                        self.config.name,
                        exc.status,
                        exc.reason,
                    )
                return self.is_leader
            except Exception as exc:  # network errors: urllib3 raises many types
                log.warning("lease %s/%s: %s", self.config.namespace, self.config.name, exc)
                return self.is_leader

    def _round(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        cfg = self.config
        now_s = self.clock.now()
        try:
            lease = self.api.read_namespaced_lease(cfg.name, cfg.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=cfg.name, namespace=cfg.namespace),
                spec=self._spec(acquire=True, transitions=0),
            )
            self.api.create_namespaced_lease(cfg.namespace, body)  # 409 if another won the race
            self._won(now_s, None)
            return True

        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, str(spec.renew_time), lease.metadata.resource_version)
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at_s = now_s
        holder = spec.holder_identity
        duration_s = spec.lease_duration_seconds or cfg.lease_duration_s
        if holder and holder != self.identity and now_s - self._observed_at_s < duration_s:
            self._renewed_at_s = None  # someone else holds a live lease
            return False

        new_holder = holder != self.identity
        # every change of holder counts, also taking a released (empty) lease: client-go
        # leaderelection adds 1 to LeaderTransitions whenever a non-holder acquires
        transitions = (spec.lease_transitions or 0) + (1 if new_holder else 0)
        lease.spec = self._spec(acquire=new_holder, transitions=transitions, previous=spec)
        # replace carries metadata.resourceVersion: optimistic concurrency, 409 for the loser
        updated = self.api.replace_namespaced_lease(cfg.name, cfg.namespace, lease)
        if new_holder:
            previous = f"took over from {holder}" if holder else "acquired the released lease"
            log.info(
                "lease %s/%s: %s %s (transition %d)",
                cfg.namespace,
                cfg.name,
                self.identity,
                previous,
                transitions,
            )
        self._won(now_s, updated)
        return True

    def _spec(self, *, acquire: bool, transitions: int, previous: Any = None) -> Any:
        from kubernetes import client

        now = _now_utc()
        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self.config.lease_duration_s,
            acquire_time=now if acquire or previous is None else previous.acquire_time,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _won(self, now_s: float, lease: Any) -> None:
        if self._renewed_at_s is None:
            self.transitions += 1
        self._renewed_at_s = now_s
        if lease is not None:
            spec = lease.spec
            self._observed_record = (
                spec.holder_identity,
                str(spec.renew_time),
                lease.metadata.resource_version,
            )
            self._observed_at_s = now_s

    def release(self) -> None:
        """Give the lease up on a clean shutdown so a follower takes over at once
        (client-go ``ReleaseOnCancel``): clear the holder if it is still us. Final: later
        rounds do nothing."""
        with self._lock:
            self._released = True
            if self._renewed_at_s is None:
                return
            self._renewed_at_s = None
            try:
                lease = self.api.read_namespaced_lease(self.config.name, self.config.namespace)
                if lease.spec and lease.spec.holder_identity == self.identity:
                    lease.spec.holder_identity = None
                    lease.spec.lease_duration_seconds = 1
                    lease.spec.renew_time = _now_utc()
                    self.api.replace_namespaced_lease(self.config.name, self.config.namespace, lease)
            except Exception as exc:  # best effort: the lease expires anyway
                log.warning("lease %s/%s: release failed: %s", self.config.namespace, self.config.name, exc)
