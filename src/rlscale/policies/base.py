"""The one policy protocol (DESIGN.md §5): everything that scales implements it, so the
evaluation harness and the live controller treat the HPA, KEDA, KPA, the oracle and a
learned network alike."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


@runtime_checkable
class Policy(Protocol):
    """A batched scaler for ``num_envs`` services that share one :class:`ServiceSpec`.

    ``act`` is called once per decision period with that period's signals and returns the
    desired replica count per service (int64, shape ``(num_envs,)``). Policies clamp to
    [min_replicas, max_replicas] themselves where the algorithm they copy does (the HPA
    does); the safety guard clamps again in the live path.
    ``reset(mask)`` forgets the per-service state (history, stabilisation windows) of the
    masked services, all of them when ``mask`` is None.
    """

    name: str
    spec: ServiceSpec
    num_envs: int

    def act(self, signals: ScalingSignals) -> np.ndarray: ...

    def reset(self, mask: np.ndarray | None = None) -> None: ...
