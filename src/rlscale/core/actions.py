"""Turning a policy's raw action into a desired replica count: one pure, numpy-only decoder
shared by the Gymnasium envs (training) and ``policies.learned`` (offline and live), so a
trained network means the same thing everywhere.

Modes:
- ``delta``: Discrete index into ``deltas`` (default (-1, 0, +1), as seed 000), added to the
  current desired count.
- ``ratio``: Discrete index into ``ratios`` (multiplicative steps); any ratio other than 1
  moves at least one replica in its direction.
- ``target``: Box[-1, 1] mapped linearly onto [min_replicas, max_replicas].
- ``utilization``: Box[-1, 1] mapped onto a target utilisation ``u`` in ``utilization_range``;
  desired = ceil(observed rate / (pod capacity · u)). Scale-free: the same action means the
  same headroom for a 2-pod and a 200-pod service.
- ``hold_target``: Discrete. Action 0 keeps the current desired count (learned hysteresis:
  the HPA's 300 s down-stabilisation is a fixed version of it); action ``k >= 1`` asks for
  ``ceil(rate_estimate / (pod capacity · target_utilizations[k-1]))``, where the estimate is
  the observed rate extrapolated by its recent upward trend over ``trend_horizon_steps``
  (start-up delay plus metric lag: what a scaler must anticipate). The trend comes from the
  observation's ``load_trend_*`` features, so no future is peeked at and the live path
  decodes exactly as the env. Scale-free, and fast in both directions. With several
  ``peak_windows`` (decision periods, from the observation's trend lags), each target comes
  once per window and sizes for the *peak* rate seen over that window (a learned
  down-stabilisation: 0 = the current rate only): action ``1 + i·len(peak_windows) + j`` is
  target ``i`` over window ``j``. With ``memory_floor_utilization`` set, no action (hold
  included) goes below the pods that would serve the observation's long decayed peak
  (``load_peak_memory``, a 2-hour memory) at that utilisation: capacity kept for load that
  comes back in bursts minutes to hours apart, which four minutes of history cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rlscale.core.observation import HISTORY_LAGS, OBSERVATION_FEATURES
from rlscale.core.signals import ScalingSignals
from rlscale.core.slo_budget import FeedbackConfig
from rlscale.core.spec import ServiceSpec

ActionMode = Literal["delta", "ratio", "target", "utilization", "hold_target"]
ACTION_MODES: tuple[str, ...] = ("delta", "ratio", "target", "utilization", "hold_target")
#: Default target utilisations of ``hold_target`` (HPA-like 45 % .. near-saturation 95 %).
HOLD_TARGET_UTILIZATIONS: tuple[float, ...] = (0.45, 0.55, 0.65, 0.75, 0.85, 0.95)
#: Trend lags (decision periods) read from the observation for the rate extrapolation; the
#: median of their per-step log-slopes is robust to one noisy sample (Poisson counts).
TREND_LAGS: tuple[int, ...] = (2, 4, 8)
#: Largest extrapolated growth over the horizon (a x2 jump): caps a noisy slope's effect.
MAX_TREND_GROWTH = 2.0


@dataclass(frozen=True)
class ActionConfig:
    """How raw actions are decoded (stored next to a checkpoint as JSON)."""

    mode: str = "delta"
    deltas: tuple[int, ...] = (-1, 0, 1)
    ratios: tuple[float, ...] = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
    utilization_range: tuple[float, float] = (0.3, 1.0)
    target_utilizations: tuple[float, ...] = HOLD_TARGET_UTILIZATIONS
    #: Extrapolation horizon of ``hold_target`` in decision periods; None = start-up delay
    #: (spec.startup_delay_s / spec.step_s) + 1 period of metric lag.
    trend_horizon_steps: float | None = None
    peak_windows: tuple[int, ...] = (0,)
    #: ``hold_target``: never fewer pods than serve the long decayed peak at this utilisation
    #: (None: no floor). Pods that start at once have nothing to hold capacity for.
    memory_floor_utilization: float | None = None
    #: ``hold_target``: the error-budget feedback (core.slo_budget) a learned policy serves
    #: with: a budget floor and a headroom on the utilisations, moved by the burn rate of the
    #: user's SLO budget (None: no feedback).
    budget_feedback: FeedbackConfig | None = None

    def __post_init__(self) -> None:
        if self.mode not in ACTION_MODES:
            raise ValueError(f"unknown action mode {self.mode!r}; known modes: {list(ACTION_MODES)}")
        if not self.deltas:
            raise ValueError("ActionConfig.deltas must not be empty")
        if not self.ratios or any(not r > 0 for r in self.ratios):
            raise ValueError("ActionConfig.ratios must be non-empty and > 0")
        lo, hi = self.utilization_range
        if not 0 < lo < hi:
            raise ValueError(
                f"ActionConfig.utilization_range must satisfy 0 < low < high, got {self.utilization_range}"
            )
        if not self.target_utilizations or any(not 0 < u <= 1.5 for u in self.target_utilizations):
            raise ValueError(
                f"ActionConfig.target_utilizations must be non-empty, each in (0, 1.5], got {self.target_utilizations}"
            )
        if not self.peak_windows or any(w != 0 and w not in HISTORY_LAGS for w in self.peak_windows):
            raise ValueError(
                f"ActionConfig.peak_windows must be 0 or observation lags {HISTORY_LAGS}, got {self.peak_windows}"
            )
        floor = self.memory_floor_utilization
        if floor is not None and not 0 < floor <= 1.5:
            raise ValueError(
                f"ActionConfig.memory_floor_utilization must be in (0, 1.5] or None, got {floor}"
            )
        if self.trend_horizon_steps is not None and not self.trend_horizon_steps >= 0:
            raise ValueError(f"ActionConfig.trend_horizon_steps must be >= 0, got {self.trend_horizon_steps}")

    @property
    def discrete(self) -> bool:
        return self.mode in ("delta", "ratio", "hold_target")

    @property
    def num_actions(self) -> int:
        """Number of discrete actions (1-D Box dimension for continuous modes)."""
        if self.mode == "delta":
            return len(self.deltas)
        if self.mode == "ratio":
            return len(self.ratios)
        if self.mode == "hold_target":
            return 1 + len(self.target_utilizations) * len(self.peak_windows)
        return 1

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "deltas": list(self.deltas),
            "ratios": list(self.ratios),
            "utilization_range": list(self.utilization_range),
            "target_utilizations": list(self.target_utilizations),
            "trend_horizon_steps": self.trend_horizon_steps,
            "peak_windows": list(self.peak_windows),
            "memory_floor_utilization": self.memory_floor_utilization,
            "budget_feedback": None if self.budget_feedback is None else self.budget_feedback.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ActionConfig:
        return cls(
            mode=str(data.get("mode", "delta")),
            deltas=tuple(int(x) for x in data.get("deltas", (-1, 0, 1))),  # type: ignore[union-attr]
            ratios=tuple(float(x) for x in data.get("ratios", cls.ratios)),  # type: ignore[union-attr]
            utilization_range=tuple(float(x) for x in data.get("utilization_range", (0.3, 1.0))),  # type: ignore[arg-type,union-attr]
            target_utilizations=tuple(
                float(x)
                for x in data.get("target_utilizations", HOLD_TARGET_UTILIZATIONS)  # type: ignore[union-attr]
            ),
            trend_horizon_steps=None
            if data.get("trend_horizon_steps") is None
            else float(data["trend_horizon_steps"]),  # type: ignore[arg-type]
            peak_windows=tuple(int(x) for x in data.get("peak_windows", (0,))),  # type: ignore[union-attr]
            memory_floor_utilization=None
            if data.get("memory_floor_utilization") is None
            else float(data["memory_floor_utilization"]),  # type: ignore[arg-type]
            budget_feedback=None
            if data.get("budget_feedback") is None
            else FeedbackConfig.from_dict(dict(data["budget_feedback"])),  # type: ignore[call-overload]
        )


def _current(signals: ScalingSignals) -> np.ndarray:
    cur = np.asarray(signals.desired_replicas, dtype=np.float64)
    ready = np.asarray(signals.ready_replicas, dtype=np.float64)
    return np.where(np.isfinite(cur), cur, np.where(np.isfinite(ready), ready, 1.0))


def _observed_rate(signals: ScalingSignals) -> np.ndarray:
    rate = np.asarray(signals.request_rate_rps, dtype=np.float64)
    return np.where(np.isfinite(rate), np.maximum(rate, 0.0), 0.0)


def trend_rate_estimate(
    config: ActionConfig,
    signals: ScalingSignals,
    spec: ServiceSpec,
    observation: np.ndarray | None,
    peak_window: int = 0,
) -> np.ndarray:
    """The observed rate extrapolated over the horizon by its recent upward trend (req/s).

    Per-step log-slope = median over :data:`TREND_LAGS` of ``-load_trend_lag / lag`` (the
    observation stores ``log(rate[t-lag] / rate[t])``); only growth is extrapolated (scaling
    down early is the oracle's privilege, not a scaler's), capped at :data:`MAX_TREND_GROWTH`.
    With ``peak_window`` > 0 the estimate is at least the largest rate of the last
    ``peak_window`` periods, as sampled at the observation's lags (:data:`HISTORY_LAGS`
    up to the window; the trend clip bounds it at e^3 times the current rate). Without an
    observation the estimate is the observed rate."""
    rate = _observed_rate(signals)
    if observation is None:
        return rate
    obs = _trend_block(observation, rate.shape[0])
    return rate * _growth(obs, peak_window, _trend_growth(config, spec, obs))


_TREND_COLUMNS = np.array([OBSERVATION_FEATURES.index(f"load_trend_{lag}") for lag in TREND_LAGS])
_TREND_LAG_STEPS = np.array(TREND_LAGS, dtype=np.float64)
_PEAK_MEMORY_COLUMN = OBSERVATION_FEATURES.index("load_peak_memory")


def _trend_block(observation: np.ndarray, n: int) -> np.ndarray:
    obs = np.asarray(observation, dtype=np.float64).reshape(n, -1)
    if obs.shape[1] != len(OBSERVATION_FEATURES):
        raise ValueError(
            f"trend_rate_estimate: observation has {obs.shape[1]} features, expected {len(OBSERVATION_FEATURES)}"
        )
    return obs


def _trend_growth(config: ActionConfig, spec: ServiceSpec, obs: np.ndarray) -> np.ndarray:
    """e^(slope · horizon), the median upward log-slope extrapolated over the horizon."""
    slopes = np.sort(-obs[:, _TREND_COLUMNS] / _TREND_LAG_STEPS, axis=1)
    mid = slopes.shape[1] // 2  # the median by sorting: np.median costs ~0.15 ms a call
    median = slopes[:, mid] if slopes.shape[1] % 2 else 0.5 * (slopes[:, mid - 1] + slopes[:, mid])
    slope = np.maximum(median, 0.0)
    horizon = (
        config.trend_horizon_steps
        if config.trend_horizon_steps is not None
        else spec.startup_delay_s / spec.step_s + 1.0
    )
    return np.minimum(np.exp(slope * horizon), MAX_TREND_GROWTH)


def _growth(obs: np.ndarray, peak_window: int, trend_growth: np.ndarray) -> np.ndarray:
    """Growth factor to size for: the trend's, or the peak over ``peak_window`` if higher."""
    if peak_window > 0:
        cols = [OBSERVATION_FEATURES.index(f"load_trend_{lag}") for lag in HISTORY_LAGS if lag <= peak_window]
        return np.maximum(trend_growth, np.exp(np.max(obs[:, cols], axis=1)))
    return trend_growth


def _memory_floor(
    config: ActionConfig,
    spec: ServiceSpec,
    obs: np.ndarray,
    current: np.ndarray,
    headroom: np.ndarray | float = 1.0,
) -> np.ndarray | None:
    """Pods that serve the long decayed peak at ``config.memory_floor_utilization`` (None when
    there is no floor: not configured, or pods that start at once). The observation stores the
    peak in units of the desired count's capacity, so it survives a rate of zero."""
    u = config.memory_floor_utilization
    if u is None or spec.startup_delay_s <= 0:
        return None
    held = obs[:, _PEAK_MEMORY_COLUMN] * np.maximum(current, 1.0) / (u * headroom)
    return np.ceil(held - 1e-4)  # float32 features: not one pod more for a rounding error


def decode_action(
    mode: str | ActionConfig,
    action: np.ndarray,
    signals: ScalingSignals,
    spec: ServiceSpec,
    observation: np.ndarray | None = None,
    headroom: np.ndarray | None = None,
) -> np.ndarray:
    """Desired replicas (int64, shape ``(n,)``, clamped to [min, max]) for a batch of raw actions.

    ``action``: int indices of shape ``(n,)`` for discrete modes, floats of shape ``(n,)`` or
    ``(n, 1)`` in [-1, 1] for continuous ones (clipped). ``signals`` supplies the current
    desired count and the observed request rate; ``observation`` (the
    :class:`~rlscale.core.ObservationBuilder` vector of these signals) supplies the load trend
    that ``hold_target`` extrapolates (without it, no trend is used). ``headroom`` (``(n,)``,
    from :class:`~rlscale.core.slo_budget.BudgetFeedback`) multiplies the target and floor
    utilisations of ``hold_target`` (< 1: more pods than the network asked for).
    """
    config = mode if isinstance(mode, ActionConfig) else ActionConfig(mode=mode)
    n = signals.num_envs
    act = np.asarray(action)
    if config.discrete:
        idx = act.reshape(-1)
        if idx.shape != (n,):
            raise ValueError(f"decode_action({config.mode}): expected {n} actions, got shape {act.shape}")
        if idx.dtype.kind == "f":
            idx = np.rint(idx)
        idx = idx.astype(np.int64)
        if np.any((idx < 0) | (idx >= config.num_actions)):
            raise ValueError(
                f"decode_action({config.mode}): action index out of range [0, {config.num_actions})"
            )
        cur = _current(signals)
        if config.mode == "hold_target":
            n_w = len(config.peak_windows)
            k = np.maximum(idx - 1, 0)
            u = np.asarray(config.target_utilizations, dtype=np.float64)[k // n_w]
            scale = 1.0 if headroom is None else np.asarray(headroom, dtype=np.float64).reshape(n)
            u = u * scale
            rate = _observed_rate(signals)
            est = rate.copy()
            floor = None  # without an observation: no trend, no peaks, no memory floor
            if observation is not None:  # the trend is computed once, the peaks per window used
                obs = _trend_block(observation, n)
                trend = _trend_growth(config, spec, obs)
                for j, w in enumerate(config.peak_windows):
                    sel = k % n_w == j
                    if sel.any():
                        est = np.where(sel, rate * _growth(obs, w, trend), est)
                floor = _memory_floor(config, spec, obs, cur, scale)
            target = np.ceil(est / (spec.pod_capacity_rps * u) - 1e-9)
            desired = np.where(idx == 0, cur, target)
            if floor is not None:
                desired = np.maximum(desired, floor)
        elif config.mode == "delta":
            desired = cur + np.asarray(config.deltas, dtype=np.float64)[idx]
        else:
            r = np.asarray(config.ratios, dtype=np.float64)[idx]
            scaled = np.rint(cur * r)
            desired = np.where(
                r > 1, np.maximum(scaled, cur + 1), np.where(r < 1, np.minimum(scaled, cur - 1), cur)
            )
    else:
        x = act.astype(np.float64).reshape(n, -1)[:, 0] if act.size == n else None
        if x is None:
            raise ValueError(f"decode_action({config.mode}): expected {n} actions, got shape {act.shape}")
        x = np.clip(np.where(np.isfinite(x), x, 0.0), -1.0, 1.0)
        frac = 0.5 * (x + 1.0)
        if config.mode == "target":
            desired = np.rint(spec.min_replicas + frac * (spec.max_replicas - spec.min_replicas))
        else:
            lo, hi = config.utilization_range
            u = lo + frac * (hi - lo)
            desired = np.ceil(_observed_rate(signals) / (spec.pod_capacity_rps * u) - 1e-9)
    return np.clip(desired, spec.min_replicas, spec.max_replicas).astype(np.int64)
