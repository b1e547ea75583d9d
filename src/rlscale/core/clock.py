"""Clocks are passed in, so every time-dependent decision is testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic within one process."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to (tests, replay)."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"ManualClock cannot go back in time ({seconds} s)")
        self._now += seconds


class ScaledClock:
    """A clock running ``scale`` times faster than ``base``: a controller driving an emulated
    cluster that runs faster than real time (``rlscale emulate --speedup``) sees emulated
    seconds."""

    def __init__(self, scale: float, base: Clock | None = None) -> None:
        self.scale = float(scale)
        self.base = base or SystemClock()

    def now(self) -> float:
        return self.base.now() * self.scale

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds / self.scale)
