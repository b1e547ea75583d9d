"""A hand-written hysteresis rule in the ``hold_target`` action space: the teacher that
behaviour cloning starts from before RL improves on it (AWARE's bootstrapping idea, with a
better teacher than the HPA).

Rule (utilisation ρ of the trend-extrapolated rate over the *current* desired count):
scale up at once to the ``up`` target when ρ would exceed it; scale down at once to the
``down_to`` target when ρ falls below ``down_below``; otherwise hold. It differs from the HPA
exactly where the HPA loses: no 300 s down-stabilisation, no ±10 % tolerance band, and the
rate is extrapolated over the start-up delay instead of reading lagged CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlscale.core.actions import ActionConfig, decode_action
from rlscale.core.observation import ObservationBuilder
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


@dataclass(frozen=True)
class HysteresisRule:
    """Targets are utilisations that must be members of ``action.target_utilizations``."""

    up: float = 0.75
    down_below: float = 0.5
    down_to: float = 0.65

    def indices(self, action: ActionConfig) -> tuple[int, int, int]:
        us = list(action.target_utilizations)
        out = []
        for u in (self.up, self.down_below, self.down_to):
            hits = [i for i, x in enumerate(us) if abs(x - u) < 1e-9]
            if not hits:
                raise ValueError(f"HysteresisRule: utilisation {u} is not one of the action targets {us}")
            out.append(1 + hits[0])
        return out[0], out[1], out[2]

    def actions(
        self, action: ActionConfig, signals: ScalingSignals, spec: ServiceSpec, observation: np.ndarray
    ) -> np.ndarray:
        """Raw ``hold_target`` action indices (int64, ``(n,)``) of the rule."""
        k_up, k_low, k_to = self.indices(action)
        n = signals.num_envs
        cur = decode_action(action, np.zeros(n, dtype=np.int64), signals, spec, observation)
        up = decode_action(action, np.full(n, k_up), signals, spec, observation)
        low = decode_action(action, np.full(n, k_low), signals, spec, observation)
        return np.where(up > cur, k_up, np.where(low < cur, k_to, 0)).astype(np.int64)


class HysteresisPolicy:
    """:class:`~rlscale.policies.base.Policy` running :class:`HysteresisRule`."""

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        rule: HysteresisRule | None = None,
        action: ActionConfig | None = None,
    ) -> None:
        self.spec = spec
        self.num_envs = int(num_envs)
        self.rule = rule or HysteresisRule()
        self.action = action or ActionConfig(mode="hold_target")
        self.name = f"hysteresis:{self.rule.up}/{self.rule.down_below}/{self.rule.down_to}"
        self._builder = ObservationBuilder(spec, self.num_envs)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        obs = self._builder.build(signals)
        idx = self.rule.actions(self.action, signals, self.spec, obs)
        return decode_action(self.action, idx, signals, self.spec, obs)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._builder.reset(mask)
