"""Fault injection for the fault-suite tests: make the next N matching requests fail with a
given status (409, 500, 503...) or hang for a while before being served.

Thread-safe: tests add faults from their own thread while the emulator's event loop
serves requests.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """One rule. ``path`` is a regular expression searched in the request path; ``method``
    (``GET``, ``PATCH``...) restricts it when given. ``status`` answers with a ``Status``
    object of that code; ``delay_s`` waits first (with ``status=None`` the request is then
    served normally, i.e. a slow apiserver). ``count`` is how many requests it hits
    (``None``: until cleared)."""

    path: str
    status: int | None = 500
    count: int | None = 1
    delay_s: float = 0.0
    method: str | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        if self.status is None and self.delay_s <= 0:
            raise ValueError("Fault needs a status code or a positive delay_s")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"Fault status must be an HTTP error code (400-599), got {self.status}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"Fault count must be >= 1 or None, got {self.count}")
        if self.delay_s < 0:
            raise ValueError(f"Fault delay_s must be >= 0, got {self.delay_s}")
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._regex.search(path) is not None


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    return _REASONS.get(code, "Unknown")


class FaultInjector:
    """The emulator's ``faults`` attribute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        path: str,
        *,
        status: int | None = 500,
        count: int | None = 1,
        delay_s: float = 0.0,
        method: str | None = None,
    ) -> Fault:
        """Make the next ``count`` requests whose path matches ``path`` fail with ``status``
        (after ``delay_s``), or with ``status=None`` just hang ``delay_s`` first."""
        fault = Fault(path=path, status=status, count=count, delay_s=delay_s, method=method)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, consuming one of its hits (removed when used up)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.count is not None and fault.hits >= fault.count:
                        self._faults.remove(fault)
                    return fault
        return None
