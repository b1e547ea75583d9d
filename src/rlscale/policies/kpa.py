"""The Knative Pod Autoscaler (KPA), request-rate mode (reference/autoscalers.md §4, §8).

Each decision: ``dspc = ceil(stable/target)``, ``dppc = ceil(panic/target)`` from the mean
observed request rate over the stable (60 s) and panic (10 % of it, 6 s) windows; both are
clamped into ``[floor(readyPods/maxScaleDownRate), ceil(maxScaleUpRate·readyPods)]`` with
``readyPods = max(1, ready)``; panic starts (or is extended) when ``dppc/readyPods >=
panicThreshold`` (200 %) and ends once a full stable window has passed since the last
over-threshold decision; in panic ``desired = max(stable, panic)`` and never decreases (the
``maxPanicPods`` latch). The result is clamped to min/max-scale; with ``min_replicas == 0`` a
drop to zero waits for ``scale_to_zero_grace_s`` (30 s) of zero desire, holding one pod.

Windows and our decision period. Knative ticks every 2 s over 1 s metric buckets; we decide
once per period (15 s by default) and see one request-rate sample per period (the rate
measured over that period). So a window covers ``max(1, round(window_s / step_s))`` whole
periods: the stable window is the mean of the last 4 samples and the panic window (6 s,
shorter than one period) is the latest sample alone. Until a window has filled, the mean is
over the samples seen (Knative averages the buckets it has). ``step_s`` comes from the
service spec; all windows and rates are parameters.

Target: ``target_utilization`` (70 %, ``container-concurrency-target-percentage``) of the
per-pod total, here ``ServiceSpec.pod_capacity_rps`` (Knative's RPS default total is 200;
our spec knows the real capacity), unless ``target_rps`` is given.
"""

from __future__ import annotations

import math

import numpy as np

# config-autoscaler defaults (reference/autoscalers.md §4.1), stated once
from rlscale.core.kubernetes_defaults import (
    KPA_MAX_SCALE_DOWN_RATE,
    KPA_MAX_SCALE_UP_RATE,
    KPA_PANIC_THRESHOLD_PERCENTAGE,
    KPA_PANIC_WINDOW_PERCENTAGE,
    KPA_SCALE_TO_ZERO_GRACE_S,
    KPA_STABLE_WINDOW_S,
    KPA_TARGET_UTILIZATION,
)
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies._common import (
    as_count,
    check_batch,
    current_replicas,
    env_mask,
    resolve_bounds,
)


class KPAPolicy:
    """The KPA decider, batched over envs."""

    name = "kpa"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        target_rps: float | None = None,
        target_utilization: float = KPA_TARGET_UTILIZATION,
        stable_window_s: float = KPA_STABLE_WINDOW_S,
        panic_window_percentage: float = KPA_PANIC_WINDOW_PERCENTAGE,
        panic_threshold_percentage: float = KPA_PANIC_THRESHOLD_PERCENTAGE,
        max_scale_up_rate: float = KPA_MAX_SCALE_UP_RATE,
        max_scale_down_rate: float = KPA_MAX_SCALE_DOWN_RATE,
        scale_to_zero_grace_s: float = KPA_SCALE_TO_ZERO_GRACE_S,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"kpa: num_envs must be > 0, got {num_envs}")
        if not 0 < target_utilization <= 1:
            raise ValueError(f"kpa: target_utilization must be in (0, 1], got {target_utilization}")
        target = target_utilization * spec.pod_capacity_rps if target_rps is None else target_rps
        if not target > 0:
            raise ValueError(f"kpa: target_rps must be > 0, got {target}")
        if not stable_window_s > 0:
            raise ValueError(f"kpa: stable_window_s must be > 0, got {stable_window_s}")
        if not 0 < panic_window_percentage <= 100:
            raise ValueError(
                f"kpa: panic_window_percentage must be in (0, 100], got {panic_window_percentage}"
            )
        if not panic_threshold_percentage > 100:
            raise ValueError(
                f"kpa: panic_threshold_percentage must be > 100, got {panic_threshold_percentage}"
            )
        if not max_scale_up_rate > 1:
            raise ValueError(f"kpa: max_scale_up_rate must be > 1, got {max_scale_up_rate}")
        if not max_scale_down_rate > 1:
            raise ValueError(f"kpa: max_scale_down_rate must be > 1, got {max_scale_down_rate}")
        if scale_to_zero_grace_s < 0:
            raise ValueError(f"kpa: scale_to_zero_grace_s must be >= 0, got {scale_to_zero_grace_s}")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.target_rps = float(target)
        self.stable_window_s = float(stable_window_s)
        self.panic_window_s = stable_window_s * panic_window_percentage / 100.0
        self.panic_threshold = panic_threshold_percentage / 100.0
        self.max_scale_up_rate = float(max_scale_up_rate)
        self.max_scale_down_rate = float(max_scale_down_rate)
        self.scale_to_zero_grace_s = float(scale_to_zero_grace_s)
        self.min_replicas, self.max_replicas = resolve_bounds(spec, min_replicas, max_replicas, "kpa")
        self.stable_periods = kpa_window_periods(self.stable_window_s, spec.step_s)
        self.panic_periods = kpa_window_periods(self.panic_window_s, spec.step_s)
        self._rates = np.full((self.num_envs, self.stable_periods), np.nan)
        self._panic_time_s = np.full(self.num_envs, np.nan)
        self._max_panic_pods = np.zeros(self.num_envs, dtype=np.int64)
        self._zero_since_s = np.full(self.num_envs, np.nan)

    def reset(self, mask: np.ndarray | None = None) -> None:
        m = env_mask(mask, self.num_envs, self.name)
        self._rates[m] = np.nan
        self._panic_time_s[m] = np.nan
        self._max_panic_pods[m] = 0
        self._zero_since_s[m] = np.nan

    @property
    def in_panic(self) -> np.ndarray:
        return ~np.isnan(self._panic_time_s)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        now = np.asarray(signals.time_s, dtype=np.float64)
        cur = current_replicas(signals)
        rate = np.asarray(signals.request_rate_rps, dtype=np.float64)
        have = np.isfinite(rate)
        # newest sample in column 0; a missing sample leaves the window as it was
        if have.all():  # shift in place (numpy copies overlapping slices correctly)
            self._rates[:, 1:] = self._rates[:, :-1]
            self._rates[:, 0] = rate
        else:
            shifted = np.concatenate([rate[:, None], self._rates[:, :-1]], axis=1)
            self._rates = np.where(have[:, None], shifted, self._rates)
        seen = ~np.isnan(self._rates)
        stable_n = seen.sum(axis=1)
        valid = have & (stable_n > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            stable = np.where(seen, self._rates, 0.0).sum(axis=1) / np.maximum(stable_n, 1)
            p_seen = seen[:, : self.panic_periods]
            panic = np.where(p_seen, self._rates[:, : self.panic_periods], 0.0).sum(axis=1) / np.maximum(
                p_seen.sum(axis=1), 1
            )

        ready_orig = as_count(signals.ready_replicas).astype(np.float64)
        ready = np.maximum(1.0, ready_orig)
        max_up = np.ceil(self.max_scale_up_rate * ready)
        max_down = np.floor(ready / self.max_scale_down_rate)  # the revision is reachable
        dspc = np.ceil(np.maximum(stable, 0.0) / self.target_rps)
        dppc = np.ceil(np.maximum(panic, 0.0) / self.target_rps)
        stable_pods = np.minimum(np.maximum(dspc, max_down), max_up).astype(np.int64)
        panic_pods = np.minimum(np.maximum(dppc, max_down), max_up).astype(np.int64)

        over = valid & (dppc / ready >= self.panic_threshold)
        self._panic_time_s = np.where(over, now, self._panic_time_s)
        leave = valid & ~over & self.in_panic & (self._panic_time_s + self.stable_window_s < now)
        self._panic_time_s = np.where(leave, np.nan, self._panic_time_s)
        self._max_panic_pods = np.where(leave, 0, self._max_panic_pods)
        desired = stable_pods
        panicking = valid & self.in_panic
        desired = np.where(panicking, np.maximum(desired, panic_pods), desired)
        desired = np.where(panicking, np.maximum(desired, self._max_panic_pods), desired)
        self._max_panic_pods = np.where(panicking, desired, self._max_panic_pods)

        desired = np.clip(desired, self.min_replicas, self.max_replicas)
        # scale to zero only after the grace period of continuous zero desire; hold one pod meanwhile
        zero = valid & (desired == 0)
        since = np.where(np.isnan(self._zero_since_s), now, self._zero_since_s)
        self._zero_since_s = np.where(valid, np.where(zero, since, np.nan), self._zero_since_s)
        waiting = zero & ~(self._zero_since_s + self.scale_to_zero_grace_s <= now) & (cur > 0)
        desired = np.where(waiting, 1, desired)
        return np.where(valid, desired, cur).astype(np.int64)


def kpa_window_periods(window_s: float, step_s: float) -> int:
    """How many whole decision periods a KPA window covers (at least one)."""
    return max(1, math.floor(window_s / step_s + 0.5))
