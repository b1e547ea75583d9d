"""KEDA: an HPA on an External ``AverageValue`` metric plus the operator's 0↔1 loop
(reference/autoscalers.md §3 and §8).

* 1↔N: the generated HPA (``keda-hpa-<name>``) runs the exact HPA reconcile of
  :mod:`rlscale.policies.hpa` on the external metric "request rate": tolerance test on
  ``total/(target·statusReplicas)``, ``desired = ceil(total/target)`` outside it. Its
  ``minReplicas`` is ``max(minReplicaCount, 1)`` (``getHPAMinReplicas``), its behaviour Path A
  unless one is given (KEDA copies ``advanced.horizontalPodAutoscalerConfig.behavior``).
* 0↔1: every ``polling_interval_s`` the operator checks activation (``rate >
  activation_threshold``, strictly). Active at 0 replicas → ``max(minReplicaCount, 1)`` and
  ``lastActiveTime = now``; active otherwise → refresh ``lastActiveTime``. Inactive with
  ``minReplicaCount == 0`` → straight to 0 from any N (keda#7770) once ``lastActiveTime +
  cooldownPeriod < now`` (or ``creation + initialCooldownPeriod`` when never active). With
  ``minReplicaCount >= 1`` activation is ignored.

Mapping to :class:`ScalingSignals`: the metric total is ``request_rate_rps`` (milli-units as a
Kubernetes quantity, rounded up); ``statusReplicas`` = ready + pending pods; a NaN rate is a
scaler error: the HPA does nothing, and (no ``fallback`` modelled) the operator counts the
trigger as inactive. Operator writes happen before the HPA reconcile of the same period.

Default target: ``DEFAULT_TARGET_FRACTION`` (0.7) × ``pod_capacity_rps`` requests per second
per replica, the per-pod rate one pod carries with headroom for the SLO (the same 70 % as
Knative's default target utilisation); set ``target_rps_per_replica`` to tune it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# ScaledObject defaults (reference/autoscalers.md §3.1), stated once
from rlscale.core.kubernetes_defaults import (
    KEDA_ACTIVATION_THRESHOLD,
    KEDA_COOLDOWN_PERIOD_S,
    KEDA_INITIAL_COOLDOWN_PERIOD_S,
    KEDA_POLLING_INTERVAL_S,
)
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies._common import (
    DEFAULT_TARGET_FRACTION,
    TIME_EPS_S,
    as_count,
    check_batch,
    current_replicas,
    env_mask,
    resolve_bounds,
)
from rlscale.policies.hpa import HPA_SYNC_PERIOD_S, HPA_TOLERANCE, HPABehavior, HPANormalizer, Tolerances


def to_milli(values: np.ndarray) -> np.ndarray:
    """A float quantity as integer milli-units, rounded up like ``Quantity.MilliValue``
    (after removing float noise at 1e-6 milli)."""
    v = np.asarray(values, dtype=np.float64)
    return np.ceil(np.round(v * 1000.0, 6)).astype(np.int64)


def external_average_value_proposal(
    total_milli: np.ndarray, target_milli: int, status_replicas: np.ndarray, tolerances: Tolerances
) -> np.ndarray:
    """:func:`rlscale.policies.hpa.replicas_for_external_average_value`, vectorised."""
    total = np.asarray(total_milli, dtype=np.int64)
    status = np.asarray(status_replicas, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = total.astype(np.float64) / (float(target_milli) * status.astype(np.float64))
    within = ((1.0 - tolerances.down) <= ratio) & (ratio <= (1.0 + tolerances.up))
    desired = np.ceil(total.astype(np.float64) / float(target_milli)).astype(np.int64)
    return np.where(within, status, desired)


class KEDAPolicy:
    """A KEDA ``ScaledObject`` with one request-rate trigger, batched over envs."""

    name = "keda"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        target_rps_per_replica: float | None = None,
        activation_threshold_rps: float = KEDA_ACTIVATION_THRESHOLD,
        polling_interval_s: float = KEDA_POLLING_INTERVAL_S,
        cooldown_period_s: float = KEDA_COOLDOWN_PERIOD_S,
        initial_cooldown_period_s: float = KEDA_INITIAL_COOLDOWN_PERIOD_S,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        tolerance: float = HPA_TOLERANCE,
        sync_period_s: float = HPA_SYNC_PERIOD_S,
        behavior: HPABehavior | Literal["nil", "default"] | None = None,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"keda: num_envs must be > 0, got {num_envs}")
        target = (
            DEFAULT_TARGET_FRACTION * spec.pod_capacity_rps
            if target_rps_per_replica is None
            else target_rps_per_replica
        )
        if not target > 0:
            raise ValueError(f"keda: target_rps_per_replica must be > 0, got {target}")
        for label, value in (
            ("polling_interval_s", polling_interval_s),
            ("sync_period_s", sync_period_s),
        ):
            if not value > 0:
                raise ValueError(f"keda: {label} must be > 0, got {value}")
        if cooldown_period_s < 0 or initial_cooldown_period_s < 0 or activation_threshold_rps < 0:
            raise ValueError(
                "keda: cooldown_period_s, initial_cooldown_period_s and activation_threshold_rps must be >= 0"
            )
        if behavior == "nil":
            behavior = None
        elif behavior == "default":
            behavior = HPABehavior()
        self.spec = spec
        self.num_envs = int(num_envs)
        self.target_rps_per_replica = float(target)
        self.target_milli = int(to_milli(np.array([target]))[0])
        self.activation_threshold_rps = float(activation_threshold_rps)
        self.polling_interval_s = float(polling_interval_s)
        self.cooldown_period_s = float(cooldown_period_s)
        self.initial_cooldown_period_s = float(initial_cooldown_period_s)
        self.min_replica_count, self.max_replicas = resolve_bounds(spec, min_replicas, max_replicas, "keda")
        self.hpa_min_replicas = max(self.min_replica_count, 1)
        if self.hpa_min_replicas > self.max_replicas:
            raise ValueError(f"keda: max_replicas must be >= 1, got {self.max_replicas}")
        self.tolerances = Tolerances(tolerance, tolerance)
        self.sync_period_s = float(sync_period_s)
        self.hpa = HPANormalizer(self.num_envs, self.hpa_min_replicas, self.max_replicas, behavior)
        self._next_sync_s = np.full(self.num_envs, -np.inf)
        self._next_poll_s = np.full(self.num_envs, -np.inf)
        self._last_active_s = np.full(self.num_envs, np.nan)
        self._created_s = np.full(self.num_envs, np.nan)

    def reset(self, mask: np.ndarray | None = None) -> None:
        m = env_mask(mask, self.num_envs, self.name)
        self.hpa.wipe(m)
        self._next_sync_s[m] = -np.inf
        self._next_poll_s[m] = -np.inf
        self._last_active_s[m] = np.nan
        self._created_s[m] = np.nan

    def _operator(self, now: np.ndarray, cur: np.ndarray, rate: np.ndarray) -> np.ndarray:
        due = now >= self._next_poll_s - TIME_EPS_S
        out = cur.copy()
        if not due.any():
            return out
        if self.min_replica_count >= 1:
            active = np.ones(self.num_envs, dtype=bool)
        else:
            active = np.isfinite(rate) & (
                np.where(np.isfinite(rate), rate, 0.0) > self.activation_threshold_rps
            )
        act_now = due & active
        out = np.where(act_now & (cur == 0), self.hpa_min_replicas, out)
        self._last_active_s = np.where(act_now, now, self._last_active_s)
        idle = due & ~active
        if self.min_replica_count == 0:
            never = np.isnan(self._last_active_s)
            deadline = np.where(
                never,
                self._created_s + self.initial_cooldown_period_s,
                self._last_active_s + self.cooldown_period_s,
            )
            # lastActiveTime + cooldown Before(now); a never-active object waits for creation + initial cooldown
            expired = deadline < now - TIME_EPS_S
            out = np.where(idle & (cur > 0) & expired, 0, out)
        else:
            out = np.where(idle & (cur < self.min_replica_count), self.min_replica_count, out)
        self._next_poll_s = np.where(due, now + self.polling_interval_s, self._next_poll_s)
        return out

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        now = np.asarray(signals.time_s, dtype=np.float64)
        self._created_s = np.where(np.isnan(self._created_s), now, self._created_s)
        cur = current_replicas(signals)
        rate = np.asarray(signals.request_rate_rps, dtype=np.float64)
        after_operator = self._operator(now, cur, rate)
        due = now >= self._next_sync_s - TIME_EPS_S
        if not due.any():
            return after_operator
        finite = np.isfinite(rate)
        total = to_milli(np.where(finite, np.maximum(rate, 0.0), 0.0))
        status = as_count(signals.ready_replicas) + as_count(signals.pending_replicas)
        proposal = external_average_value_proposal(total, self.target_milli, status, self.tolerances)
        out = self.hpa.reconcile(now, after_operator, proposal, finite, mask=due)
        self._next_sync_s = np.where(due, now + self.sync_period_s, self._next_sync_s)
        return out.astype(np.int64)
