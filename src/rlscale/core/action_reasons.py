"""Why a decoded action asks for its replica count: the policy's own reasons, in words and
numbers, for one service. The decision log, the CR's status, events and the policy server
show them before the guard's, so an operator sees what a learned policy sized for (the
estimate and where it came from: rate, trend over the start-up horizon, recent peak, memory
floor), the utilisation it chose and the count that results.

The numbers are recomputed with the decoder's own helpers (``core.actions``), so they are
the ones :func:`~rlscale.core.actions.decode_action` used, not a second model of it.
"""

from __future__ import annotations

import numpy as np

from rlscale.core.actions import (
    _PEAK_MEMORY_COLUMN,
    ActionConfig,
    _current,
    _growth,
    _memory_floor,
    _observed_rate,
    _trend_block,
    _trend_growth,
)
from rlscale.core.decision import Reason
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec

#: Reason codes of the policy's own explanation (the guard's codes are HPA-style; these say
#: which part of the policy's sizing acted).
HOLD = "PolicyHold"
SIZED_FOR_LOAD = "PolicySizedForLoad"
TREND = "PolicyTrend"
RECENT_PEAK = "PolicyRecentPeak"
BOUNDS = "PolicyBounds"
MEMORY_FLOOR = "PolicyMemoryFloor"
ACTION = "PolicyAction"


def explain_action(
    config: ActionConfig,
    action: int | float,
    signals: ScalingSignals,
    spec: ServiceSpec,
    observation: np.ndarray | None,
    headroom: float = 1.0,
) -> tuple[Reason, ...]:
    """The reasons behind ``action`` for the first service of ``signals``; ``headroom`` is the
    SLO-budget feedback's factor on the target and floor utilisations (1: none)."""
    one = signals.select(np.array([0])) if signals.num_envs != 1 else signals
    current = int(_current(one)[0])
    if config.mode != "hold_target":
        return (Reason(ACTION, f"{config.mode} action {action:g} from {current} pods", current, None),)
    return _explain_hold_target(config, int(action), one, spec, observation, current, headroom)


def _with(headroom: float) -> str:
    return "" if headroom == 1.0 else f" (with the SLO-budget headroom x{headroom:.2f})"


def _explain_hold_target(
    config: ActionConfig,
    action: int,
    signals: ScalingSignals,
    spec: ServiceSpec,
    observation: np.ndarray | None,
    current: int,
    headroom: float,
) -> tuple[Reason, ...]:
    rate = float(_observed_rate(signals)[0])
    obs = None if observation is None else _trend_block(observation, 1)
    floor = None if obs is None else _memory_floor(config, spec, obs, np.array([float(current)]), headroom)
    floor_pods = None if floor is None else int(floor[0])
    reasons: list[Reason] = []
    if action == 0:
        reasons.append(
            Reason(HOLD, f"keeps the current {current} pods (learned hysteresis)", current, current)
        )
        sized = current
    else:
        k = action - 1
        n_w = len(config.peak_windows)
        utilization = config.target_utilizations[k // n_w] * headroom
        window = config.peak_windows[k % n_w]
        trend = 1.0 if obs is None else float(_trend_growth(config, spec, obs)[0])
        growth = 1.0 if obs is None else float(_growth(obs, window, np.array([trend]))[0])
        estimate = rate * growth
        sized = int(np.ceil(estimate / (spec.pod_capacity_rps * utilization) - 1e-9))
        reasons.append(
            Reason(
                SIZED_FOR_LOAD,
                f"sized for {estimate:.1f} req/s at {utilization:.0%}{_with(headroom)} of {spec.pod_capacity_rps:g} req/s "
                f"per pod: {sized} pods",
                current,
                sized,
            )
        )
        if growth > trend + 1e-9:
            where = (
                RECENT_PEAK,
                f"{estimate:.1f} req/s is the peak of the last {window} periods, above the trend's "
                f"{rate * trend:.1f} req/s (rate now {rate:.1f} req/s)",
            )
        else:
            horizon = (
                config.trend_horizon_steps
                if config.trend_horizon_steps is not None
                else spec.startup_delay_s / spec.step_s + 1.0
            )
            where = (
                TREND,
                f"{estimate:.1f} req/s is the rate {rate:.1f} req/s × trend growth {trend:.2f} over the "
                f"{horizon:g}-period start-up horizon",
            )
        reasons.append(Reason(*where))
    if floor_pods is not None and obs is not None and floor_pods > sized:
        u = (config.memory_floor_utilization or 0.0) * headroom
        peak_rps = float(obs[0, _PEAK_MEMORY_COLUMN]) * max(current, 1) * spec.pod_capacity_rps
        reasons.append(
            Reason(
                MEMORY_FLOOR,
                f"held at >= {floor_pods} pods: the 2-hour decayed peak (about {peak_rps:.0f} req/s) "
                f"at {u:.0%} utilisation",
                sized,
                floor_pods,
            )
        )
        sized = floor_pods
    bounded = min(max(sized, spec.min_replicas), spec.max_replicas)
    if bounded != sized:
        reasons.append(
            Reason(
                BOUNDS, f"{sized} pods is outside [{spec.min_replicas}, {spec.max_replicas}]", sized, bounded
            )
        )
    return tuple(reasons)
