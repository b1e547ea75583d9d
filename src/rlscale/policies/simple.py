"""Simple baselines: a CPU threshold rule, a static replica count, and a predictive scaler.

* ``threshold``: add ``step_up`` replicas when mean CPU utilisation is above ``upper``,
  remove ``step_down`` below ``lower`` (seed 004's baseline: +1 VM above 80 % CPU, −1 below
  30 %; reference/seed-systems.md §5.1), with an optional cooldown between actions.
* ``static``: a fixed replica count (default ``spec.max_replicas``: peak provisioning).
* ``predictive``: Crane EHPA / Alibaba AHPA style (reference/autoscalers.md §5.1, §8):
  a Holt linear-trend forecast of the request rate over a horizon covering the pod start-up
  delay (the maximum forecast over the next ``h`` periods, so pods ordered now are ready for
  the peak inside the horizon), optionally the max over the same phase one season ago (Crane's
  ``maxValue``), times ``1 + headroom``, divided by the per-pod target rate; composed as
  ``max(prediction, reactive HPA)`` (Crane's HPA takes the max of the two metrics, AHPA the max
  of proactive and reactive); scale-in is conservative: the output is the rolling maximum of
  that composition over ``scale_in_window_s`` (AWS never scales in on forecasts; the HPA's
  5-minute rolling max is the same idea).
"""

from __future__ import annotations

import numpy as np

from rlscale.core.kubernetes_defaults import HPA_DOWNSCALE_STABILIZATION_S
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.core.time_steps import seconds_to_steps
from rlscale.policies._common import (
    DEFAULT_TARGET_FRACTION,
    TIME_EPS_S,
    TimedRing,
    check_batch,
    current_replicas,
    env_mask,
    resolve_bounds,
)
from rlscale.policies.hpa import HPA_DEFAULT_CPU_UTILIZATION_PCT, HPAPolicy

#: Seed 004's baseline thresholds (reference/seed-systems.md §5.1).
THRESHOLD_UPPER = 0.8
THRESHOLD_LOWER = 0.3


class ThresholdPolicy:
    """Step up above ``upper`` CPU utilisation, step down below ``lower`` (fractions of the
    request), clamped to [min, max]; NaN utilisation holds. ``cooldown_s`` (0 = none) is the
    least time between two actions of one env."""

    name = "threshold"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        upper: float = THRESHOLD_UPPER,
        lower: float = THRESHOLD_LOWER,
        step_up: int = 1,
        step_down: int = 1,
        cooldown_s: float = 0.0,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"threshold: num_envs must be > 0, got {num_envs}")
        if not 0 <= lower < upper:
            raise ValueError(f"threshold: need 0 <= lower < upper, got lower={lower}, upper={upper}")
        if step_up < 1 or step_down < 1:
            raise ValueError(f"threshold: step_up and step_down must be >= 1, got {step_up}, {step_down}")
        if cooldown_s < 0:
            raise ValueError(f"threshold: cooldown_s must be >= 0, got {cooldown_s}")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.upper, self.lower = float(upper), float(lower)
        self.step_up, self.step_down = int(step_up), int(step_down)
        self.cooldown_s = float(cooldown_s)
        self.min_replicas, self.max_replicas = resolve_bounds(spec, min_replicas, max_replicas, "threshold")
        self._last_action_s = np.full(self.num_envs, -np.inf)

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._last_action_s[env_mask(mask, self.num_envs, self.name)] = -np.inf

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        now = np.asarray(signals.time_s, dtype=np.float64)
        cur = current_replicas(signals)
        util = np.asarray(signals.cpu_utilization, dtype=np.float64)
        finite = np.isfinite(util)
        u = np.where(finite, util, 0.0)
        ready = now >= self._last_action_s + self.cooldown_s - TIME_EPS_S
        delta = np.where(u > self.upper, self.step_up, np.where(u < self.lower, -self.step_down, 0))
        delta = np.where(finite & ready, delta, 0)
        out = np.clip(cur + delta, self.min_replicas, self.max_replicas)
        self._last_action_s = np.where(out != cur, now, self._last_action_s)
        return out.astype(np.int64)


class StaticPolicy:
    """Always the same replica count (default ``spec.max_replicas``, peak provisioning)."""

    name = "static"

    def __init__(self, spec: ServiceSpec, num_envs: int = 1, *, replicas: int | None = None) -> None:
        if num_envs <= 0:
            raise ValueError(f"static: num_envs must be > 0, got {num_envs}")
        value = spec.max_replicas if replicas is None else int(replicas)
        if value < 0:
            raise ValueError(f"static: replicas must be >= 0, got {value}")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.replicas = value

    def reset(self, mask: np.ndarray | None = None) -> None:
        env_mask(mask, self.num_envs, self.name)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        return np.full(self.num_envs, self.replicas, dtype=np.int64)


class PredictivePolicy:
    """Forecast + headroom, composed with a reactive HPA, with a conservative scale-in.

    Forecast: Holt's linear trend on the per-period request rate (level ``alpha``, trend
    ``beta``), ``f(k) = level + k·trend`` for ``k = 1..h`` with ``h = ceil(horizon_s/step_s)``
    and ``horizon_s`` defaulting to ``startup_delay_s + step_s`` (start-up plus one decision);
    the prediction is ``max_k f(k)``, and, with ``season_s > 0``, also the max of the rates one
    season ago over the same phases ``[t+1, t+h]`` (needs a season of history). Replicas:
    ``ceil(prediction·(1 + headroom) / (target_fraction·pod_capacity_rps))``.
    NaN rates leave the forecast state unchanged.
    """

    name = "predictive"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        target_fraction: float = DEFAULT_TARGET_FRACTION,
        headroom: float = 0.1,
        alpha: float = 0.5,
        beta: float = 0.3,
        horizon_s: float | None = None,
        season_s: float = 0.0,
        scale_in_window_s: float = HPA_DOWNSCALE_STABILIZATION_S,
        reactive_target_pct: int = HPA_DEFAULT_CPU_UTILIZATION_PCT,
        reactive: bool = True,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"predictive: num_envs must be > 0, got {num_envs}")
        if not 0 < target_fraction <= 1:
            raise ValueError(f"predictive: target_fraction must be in (0, 1], got {target_fraction}")
        if headroom < 0:
            raise ValueError(f"predictive: headroom must be >= 0, got {headroom}")
        if not (0 < alpha <= 1 and 0 <= beta <= 1):
            raise ValueError(f"predictive: need 0 < alpha <= 1 and 0 <= beta <= 1, got {alpha}, {beta}")
        horizon = spec.startup_delay_s + spec.step_s if horizon_s is None else horizon_s
        if horizon < spec.startup_delay_s:
            raise ValueError(
                f"predictive: horizon_s ({horizon}) must cover the start-up delay ({spec.startup_delay_s} s)"
            )
        if season_s < 0 or scale_in_window_s < 0:
            raise ValueError("predictive: season_s and scale_in_window_s must be >= 0")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.min_replicas, self.max_replicas = resolve_bounds(spec, min_replicas, max_replicas, "predictive")
        self.target_rps = target_fraction * spec.pod_capacity_rps
        self.headroom = float(headroom)
        self.alpha, self.beta = float(alpha), float(beta)
        self.horizon_steps = max(1, seconds_to_steps(horizon, spec.step_s))
        self.season_steps = seconds_to_steps(season_s, spec.step_s) if season_s > 0 else 0
        self.scale_in_window_s = float(scale_in_window_s)
        self.reactive = (
            HPAPolicy(
                spec,
                self.num_envs,
                target_utilization_pct=reactive_target_pct,
                min_replicas=self.min_replicas,
                max_replicas=self.max_replicas,
            )
            if reactive
            else None
        )
        self._level = np.full(self.num_envs, np.nan)
        self._trend = np.zeros(self.num_envs)
        self._history = np.full((self.num_envs, self.season_steps), np.nan) if self.season_steps else None
        self._count = np.zeros(self.num_envs, dtype=np.int64)
        self._recent = TimedRing(self.num_envs)

    def reset(self, mask: np.ndarray | None = None) -> None:
        m = env_mask(mask, self.num_envs, self.name)
        self._level[m] = np.nan
        self._trend[m] = 0.0
        self._count[m] = 0
        if self._history is not None:
            self._history[m] = np.nan
        self._recent.clear(m)
        if self.reactive is not None:
            self.reactive.reset(m)

    def forecast_rps(self, signals: ScalingSignals) -> np.ndarray:
        """Update the forecaster with this period's rate; the predicted peak over the horizon."""
        rate = np.asarray(signals.request_rate_rps, dtype=np.float64)
        have = np.isfinite(rate)
        first = have & np.isnan(self._level)
        update = have & ~first
        prev_level = self._level
        level = np.where(
            update, self.alpha * rate + (1 - self.alpha) * (prev_level + self._trend), prev_level
        )
        trend = np.where(
            update, self.beta * (level - prev_level) + (1 - self.beta) * self._trend, self._trend
        )
        self._level = np.where(first, rate, level)
        self._trend = np.where(first, 0.0, trend)
        k = np.arange(1, self.horizon_steps + 1, dtype=np.float64)
        ahead = self._level[:, None] + k[None, :] * self._trend[:, None]
        pred = np.where(np.isnan(self._level), np.nan, np.maximum(ahead.max(axis=1), 0.0))
        if self._history is not None:
            s = self.season_steps
            col = self._count % s
            rows = np.flatnonzero(have)
            self._history[rows, col[rows]] = rate[rows]
            self._count = np.where(have, self._count + 1, self._count)
            # phases t+1..t+h one season ago sit at columns (count + j - 1) % s for j = 1..h
            cols = (self._count[:, None] + np.arange(self.horizon_steps)[None, :]) % s
            past = np.take_along_axis(self._history, cols, axis=1)
            full = self._count >= s
            seasonal = np.where(full, np.nanmax(np.where(np.isnan(past), -np.inf, past), axis=1), np.nan)
            pred = np.fmax(pred, seasonal)
        return pred

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        now = np.asarray(signals.time_s, dtype=np.float64)
        cur = current_replicas(signals)
        pred = self.forecast_rps(signals)
        pred_replicas = np.where(
            np.isfinite(pred),
            np.ceil(np.where(np.isfinite(pred), pred, 0.0) * (1 + self.headroom) / self.target_rps),
            -1,
        ).astype(np.int64)
        proposal = pred_replicas
        if self.reactive is not None:
            proposal = np.maximum(proposal, self.reactive.act(signals))
        proposal = np.where(proposal < 0, cur, proposal)  # nothing known yet: hold
        proposal = np.clip(proposal, self.min_replicas, self.max_replicas)
        # conservative scale-in: the rolling max of the composed proposal over the window
        rows = np.arange(self.num_envs)
        inside = self._recent.in_window(rows, now - self.scale_in_window_s, inclusive=False)
        recent_max = np.where(inside, self._recent.values, np.iinfo(np.int64).min).max(axis=1)
        out = np.maximum(proposal, recent_max)
        self._recent.store(rows, now, proposal, now - self.scale_in_window_s)
        return np.clip(out, self.min_replicas, self.max_replicas).astype(np.int64)
