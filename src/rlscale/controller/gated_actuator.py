"""Scale actuators that refuse a write unless a fresh check allows it: the operator's last
line of defence, below the loop, so no code path can scale for a replica that is not the
leader or for an ``RLAutoscaler`` that is deleted. Reads always pass through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NotLeaderError(RuntimeError):
    """A replica that is not (or no longer) the leader tried to patch a scale."""


class CustomResourceGoneError(RuntimeError):
    """The RLAutoscaler a write was for is deleted, being deleted, or cannot be confirmed."""


class GatedActuator:
    """Wraps a scale actuator: ``set_replicas`` first asks ``refusal()`` and raises ``error``
    with its answer unless that is None; everything else is the inner actuator's."""

    def __init__(self, inner: Any, refusal: Callable[[], str | None], error: type[RuntimeError]) -> None:
        self.inner = inner
        self.refusal = refusal
        self.error = error

    def get_replicas(self, namespace: str, name: str) -> int:
        return self.inner.get_replicas(namespace, name)

    def set_replicas(self, namespace: str, name: str, replicas: int) -> Any:
        why = self.refusal()
        if why is not None:
            raise self.error(f"refusing to scale {namespace}/{name} to {replicas}: {why}")
        return self.inner.set_replicas(namespace, name, replicas)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class LeaderGatedActuator(GatedActuator):
    """Writes only while this replica leads (the lease can lapse mid-period)."""

    def __init__(self, inner: Any, is_leader: Callable[[], bool]) -> None:
        super().__init__(inner, lambda: None if is_leader() else "not the leader", NotLeaderError)


class DeletionGatedActuator(GatedActuator):
    """Writes only after a fresh read shows the RLAutoscaler still there and not being deleted
    (``gone()`` returns why not, or None). One GET per write, not per period: writes are rare,
    and a deleted CR must never scale."""

    def __init__(self, inner: Any, gone: Callable[[], str | None]) -> None:
        super().__init__(inner, gone, CustomResourceGoneError)
