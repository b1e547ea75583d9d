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


class FixedActionPolicy:
    """Always the same raw action (a fixed rule in the ``hold_target`` space, e.g. "70 %
    of the 2-minute peak"): the natural static baselines and teachers of that space."""

    def __init__(self, spec: ServiceSpec, num_envs: int, action: ActionConfig, index: int) -> None:
        if not 0 <= index < action.num_actions:
            raise ValueError(f"FixedActionPolicy: index {index} not in [0, {action.num_actions})")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.action = action
        self.index = int(index)
        self.name = f"fixed:{index}"
        self._builder = ObservationBuilder(spec, self.num_envs)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        obs = self._builder.build(signals)
        idx = np.full(self.num_envs, self.index, dtype=np.int64)
        return decode_action(self.action, idx, signals, self.spec, obs)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._builder.reset(mask)


#: Seed teacher of the shipped policy, chosen on VALIDATION windows (agents.validation):
#: small services need more headroom and a longer peak memory (one pod's Poisson and
#: minute-to-minute jumps), large ones can run hotter (M/M/c: the tolerable utilisation
#: grows with the pod count). Rows: (pods at the observed rate below which it applies,
#: target utilisation, peak window in periods).
SCALE_AWARE_RULE: tuple[tuple[float, float, int], ...] = (
    (2.0, 0.6, 16),
    (6.0, 0.7, 16),
    (float("inf"), 0.8, 8),
)


def scale_aware_actions(
    action: ActionConfig,
    signals: ScalingSignals,
    spec: ServiceSpec,
    rule: tuple[tuple[float, float, int], ...] = SCALE_AWARE_RULE,
) -> np.ndarray:
    """Raw ``hold_target`` indices of the scale-aware rule (each row's (u, window) must be in
    the action grid)."""
    rate = np.nan_to_num(np.asarray(signals.request_rate_rps, dtype=np.float64), nan=0.0)
    pods = rate / spec.pod_capacity_rps
    us, ws = list(action.target_utilizations), list(action.peak_windows)
    out = np.zeros(signals.num_envs, dtype=np.int64)
    done = np.zeros(signals.num_envs, dtype=bool)
    for limit, u, w in rule:
        hits_u = [i for i, x in enumerate(us) if abs(x - u) < 1e-9]
        if not hits_u or w not in ws:
            raise ValueError(f"scale-aware rule: (u={u}, window={w}) is not in the action grid {us} x {ws}")
        sel = (pods < limit) & ~done
        out[sel] = 1 + hits_u[0] * len(ws) + ws.index(w)
        done |= sel
    return out


class ScaleAwarePolicy(FixedActionPolicy):
    """:func:`scale_aware_actions` as a Policy (the teacher that behaviour cloning copies)."""

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int,
        action: ActionConfig,
        rule: tuple[tuple[float, float, int], ...] = SCALE_AWARE_RULE,
    ) -> None:
        super().__init__(spec, num_envs, action, 0)
        self.rule = rule
        self.name = "scale-aware"

    def act(self, signals: ScalingSignals) -> np.ndarray:
        obs = self._builder.build(signals)
        idx = scale_aware_actions(self.action, signals, self.spec, self.rule)
        return decode_action(self.action, idx, signals, self.spec, obs)


def service_rule(
    params: object,
    action: ActionConfig,
    *,
    pods: tuple[int, ...] = (1, 2, 4),
    step_violation: float = 1e-3,
    small_window: int = 16,
    large_window: int = 8,
) -> tuple[tuple[float, float, int], ...]:
    """A scale-aware rule derived from the service's own latency law instead of fixed numbers.

    For each pod count ``n`` in ``pods``: the largest grid utilisation whose steady-state share
    of SLO-violating requests at ``n`` pods is at most ``step_violation`` (the oracle's law,
    ``sim.queueing.min_replicas_for_slo``), then one grid step lower for the dynamics (jumps
    between samples, start-up delay). For ``web`` this gives 0.5 / 0.7 / 0.8 (close to
    :data:`SCALE_AWARE_RULE`); for seed 000's linear law (``lipari2025``, SLO crossed at
    ρ = 0.625) 0.6 at every size, with no margin and no peak memory, because its pods start
    at once (``startup_delay_s == 0``: nothing to anticipate, no reason to hold capacity).
    Small services keep ``small_window`` of peak memory."""
    from rlscale.sim.queueing import min_replicas_for_slo

    spec = params.spec  # type: ignore[attr-defined]
    mu = float(np.mean(params.mu_rps))  # type: ignore[attr-defined]
    grid = sorted(action.target_utilizations)
    instant = spec.startup_delay_s <= 0
    margin_steps = 0 if instant else 1
    if instant:
        small_window = large_window = 0
    rows: list[tuple[float, float, int]] = []
    for i, n in enumerate(pods):
        ok = [
            u for u in grid if int(np.asarray(min_replicas_for_slo(u * n * mu, params, step_violation))) <= n
        ]
        best = grid.index(ok[-1]) if ok else 0
        u = grid[max(best - margin_steps, 0)]
        limit = float(pods[i + 1]) if i + 1 < len(pods) else float("inf")
        rows.append((limit, u, small_window if n < 4 else large_window))
    return tuple(rows)
