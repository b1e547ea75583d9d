"""Runs a blocking operator in a daemon thread, so tests (and a process embedding it) can run
several replicas at once: ``start`` returns once it is watching and re-raises a failure
during start-up; ``stop`` sets its stop flag and joins."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundRun:
    """``run`` in a daemon thread named ``name``; ``ready`` is set by ``run`` once it serves,
    ``stop`` is the flag that ends it."""

    def __init__(
        self, run: Callable[[], None], *, ready: threading.Event, stop: threading.Event, name: str
    ) -> None:
        self._run = run
        self.ready = ready
        self.stop_flag = stop
        self.name = name
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _target(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced through .error and start()
            self.error = exc
            log.exception("%s failed", self.name)
            self.ready.set()

    def start(self, timeout_s: float = 30.0) -> None:
        self.thread = threading.Thread(target=self._target, name=self.name, daemon=True)
        self.thread.start()
        if not self.ready.wait(timeout_s):
            raise RuntimeError(f"{self.name} not ready within {timeout_s} s")
        if self.error is not None:
            raise RuntimeError(f"{self.name} failed to start: {self.error}") from self.error

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stop_flag.set()
        if self.thread is not None:
            self.thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()
