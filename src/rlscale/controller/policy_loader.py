"""Loading the live policy so that a corrupt or mismatched checkpoint is a *fault*, not a crash.

A policy spec that cannot mean anything (unknown name, bad parameters) is a bad flag and is
refused at start. A checkpoint that is corrupt, truncated or built for another observation
layout (``CheckpointError``) is a fault the controller survives: :class:`ReloadingPolicy`
raises the load error from ``act`` (the guard records ``PolicyError`` and falls back to the
HPA) and tries to load again every ``retry_s``, so fixing the file recovers without a restart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlscale.core.clock import Clock, SystemClock
from rlscale.core.decision import Reason
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.nets.checkpoint import CheckpointError
from rlscale.policies.base import Policy

#: How often a policy that failed to load is tried again (seconds).
DEFAULT_RETRY_S = 30.0


class PolicyUnavailable(RuntimeError):
    """The policy could not be loaded; the message says why (file and problem)."""


def _is_checkpoint_fault(exc: BaseException) -> bool:
    """A CheckpointError or OSError, directly or as the cause of a wrapper (the policy
    registry re-raises factory errors as PolicySpecError ``from`` the original)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (CheckpointError, OSError)):
            return True
        seen = seen.__cause__
    return False


class ReloadingPolicy:
    """A Policy that loads lazily and keeps retrying after a checkpoint error."""

    def __init__(
        self,
        factory: Callable[[], Policy],
        spec: ServiceSpec,
        name: str,
        retry_s: float = DEFAULT_RETRY_S,
        clock: Clock | None = None,
    ) -> None:
        self.factory = factory
        self.spec = spec
        self.num_envs = 1
        self.name = name
        self.retry_s = float(retry_s)
        self.clock = clock if clock is not None else SystemClock()
        self.inner: Policy | None = None
        self.load_error: str | None = None
        #: Set by the controller's warm-up: the load history for a policy that loads late.
        self.warm_from: Callable[[], np.ndarray | None] | None = None
        self._last_try_s: float | None = None
        self._try_load()

    def _try_load(self) -> None:
        self._last_try_s = self.clock.now()
        try:
            self.inner = self.factory()
            self.load_error = None
        except Exception as exc:
            if not _is_checkpoint_fault(exc):
                raise
            self.inner = None
            self.load_error = f"{type(exc).__name__}: {exc}"

    def act(self, signals: ScalingSignals) -> np.ndarray:
        if self.inner is None and (
            self._last_try_s is None or self.clock.now() - self._last_try_s >= self.retry_s
        ):
            self._try_load()
            if self.inner is not None and self.warm_from is not None:
                rates = self.warm_from()  # loaded late: replay the history up to this period
                if rates is not None:
                    self.warm(rates)
        if self.inner is None:
            raise PolicyUnavailable(
                f"policy {self.name!r} is not loaded ({self.load_error}); retrying every {self.retry_s:g} s"
            )
        return self.inner.act(signals)

    def reset(self, mask: np.ndarray | None = None) -> None:
        if self.inner is not None:
            self.inner.reset(mask)

    def explain(self) -> tuple[Reason, ...]:
        """The loaded policy's reasons for its last answer (none when it gives none)."""
        explain = getattr(self.inner, "explain", None)
        return tuple(explain()) if explain is not None else ()

    @property
    def forecaster(self) -> object | None:
        """The loaded policy's load forecaster, if it has one."""
        return getattr(self.inner, "forecaster", None)

    def warm(self, rates_rps: np.ndarray) -> int:
        """Pass a load-history replay to the loaded policy (0 when none is loaded or it keeps
        no history)."""
        warm = getattr(self.inner, "warm", None)
        return int(warm(rates_rps)) if warm is not None else 0
