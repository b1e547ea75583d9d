"""The Kubernetes Horizontal Pod Autoscaler, reproduced exactly (reference/autoscalers.md §1).

Three levels, each usable alone:

* the per-pod **replica calculator** (``replicas_for_utilization``, ``replicas_for_average_value``,
  ``replicas_for_external_average_value``, ``replicas_for_value``): pure functions mirroring
  ``replica_calculator.go`` (integer-percent utilisation, ``ceil(ratio·readyPodCount)``,
  missing/unready pods and the conservative re-computation, §1.3–1.5);
* the **normaliser** :class:`HPANormalizer`: ``horizontal.go``'s reconcile steps around the
  metric proposal (initial recommendation, min/max/disabled pre-checks, invalid-metric rule,
  Path A ``behavior: nil`` or Path B ``behavior`` stabilisation and rate limits, scale events),
  batched over envs, with ``wipe()`` for a controller restart (§1.2, §1.6);
* :class:`HPAPolicy`: the :class:`~rlscale.policies.base.Policy` on :class:`ScalingSignals`,
  a vectorised CPU-utilisation proposal (equal to the per-pod calculator on the simulator's
  identical pods; a test checks it) feeding the normaliser.

Why exact: the HPA is the baseline every result is read against, and its quirks (the
integer percent, the inclusive tolerance, the 2×/4 cap of Path A against Path B's +4/100 %,
the 300 s rolling max) decide how many pods it runs.

Why one module of ~860 lines: the three levels are one upstream controller
(``replica_calculator.go`` + ``horizontal.go``) and are read side by side with it; a fix to a
quirk usually touches the calculator and the normaliser together, and the batched evaluation's
hot path runs through both (splitting would not shorten either, only separate them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np

# the HPA's defaults (reference/autoscalers.md §1.1), stated once
from rlscale.core.kubernetes_defaults import (
    HPA_CPU_INITIALIZATION_PERIOD_S,
    HPA_DEFAULT_CPU_UTILIZATION_PCT,
    HPA_DOWNSCALE_STABILIZATION_S,
    HPA_INITIAL_READINESS_DELAY_S,
    HPA_MAX_POLICY_PERIOD_S,
    HPA_MAX_STABILIZATION_S,
    HPA_SCALE_DOWN_PERCENT,
    HPA_SCALE_DOWN_PERIOD_S,
    HPA_SCALE_UP_LIMIT_FACTOR,
    HPA_SCALE_UP_LIMIT_MINIMUM,
    HPA_SCALE_UP_PERCENT,
    HPA_SCALE_UP_PERIOD_S,
    HPA_SCALE_UP_PODS,
    HPA_SCALE_UP_STABILIZATION_S,
    HPA_SYNC_PERIOD_S,
    HPA_TOLERANCE,
)
from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies._common import (
    TIME_EPS_S,
    TimedRing,
    as_count,
    check_batch,
    current_replicas,
    env_mask,
    resolve_bounds,
)

#: "No sample in the window" for the stabilisation max / min (int64 extremes).
_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max

SelectPolicy = Literal["Max", "Min", "Disabled"]
PolicyType = Literal["Pods", "Percent"]


# --- the replica calculator (§1.3–1.5) --------------------------------------------------------


class PodStatus(IntEnum):
    """How ``groupPods`` classifies a pod (§1.4)."""

    READY = 0  # counted in readyPodCount with its metric
    UNREADY = 1  # Pending, or not ready for CPU: excluded, 0 on a scale-up re-computation
    MISSING = 2  # no metric sample: fallback value on the re-computation
    IGNORED = 3  # deleted or Failed: dropped entirely


@dataclass(frozen=True)
class Tolerances:
    """``Tolerances{scaleDown, scaleUp}``; ``is_within`` is inclusive on both bounds."""

    up: float = HPA_TOLERANCE
    down: float = HPA_TOLERANCE

    def __post_init__(self) -> None:
        if not (self.up >= 0 and 0 <= self.down <= 1):
            raise ValueError(f"HPA tolerances must satisfy up >= 0 and 0 <= down <= 1, got {self}")

    def is_within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


class MetricUnavailable(RuntimeError):
    """The metric cannot produce a proposal this sync (no pods, no ready samples, no data).
    The reconcile treats it as an invalid metric (§1.2 step 3)."""


@dataclass(frozen=True)
class MetricProposal:
    """One metric's replica proposal and the usage the HPA status would report (the
    *original* utilisation %, or the average milli-value)."""

    replicas: int
    usage: int
    ratio: float


def cpu_sample_unready(
    now_s: float | np.ndarray,
    start_time_s: np.ndarray,
    ready_status: float | np.ndarray,
    ready_transition_s: np.ndarray,
    sample_time_s: float | np.ndarray,
    sample_window_s: float | np.ndarray,
    cpu_initialization_period_s: float = HPA_CPU_INITIALIZATION_PERIOD_S,
    initial_readiness_delay_s: float = HPA_INITIAL_READINESS_DELAY_S,
) -> np.ndarray:
    """``groupPods``' CPU readiness rule for running pods with a sample (§1.4), elementwise:
    True where the pod counts as unready for CPU. ``ready_status``: the Ready condition (1
    True, 0 False, NaN absent); a NaN start time is an absent one; both make a pod unready.
    Inside the initialisation period (``start + period > now``) a pod is unready when not
    Ready or when its sample was taken less than one window after it became Ready (the sample
    holds pre-ready CPU); after it, only a pod not Ready that never was (its last transition
    within ``start + initial delay``)."""
    start = np.asarray(start_time_s, dtype=np.float64)
    status = np.asarray(ready_status, dtype=np.float64)
    transition = np.asarray(ready_transition_s, dtype=np.float64)
    absent = np.isnan(start) | np.isnan(status)
    not_ready = status == 0
    with np.errstate(invalid="ignore"):  # -inf + inf: a warm start's pods, never "young"
        initializing = start + cpu_initialization_period_s > now_s
        stale_sample = np.asarray(sample_time_s) < transition + np.asarray(sample_window_s)
        never_ready = start + initial_readiness_delay_s > transition
    return absent | np.where(initializing, not_ready | stale_sample, not_ready & never_ready)


def group_pods(
    now_s: float,
    *,
    phase: Sequence[str],
    deleted: Sequence[bool],
    has_sample: Sequence[bool],
    ready_status: Sequence[float],
    ready_transition_s: Sequence[float],
    start_time_s: Sequence[float],
    sample_time_s: Sequence[float],
    sample_window_s: Sequence[float],
    cpu: bool = True,
    cpu_initialization_period_s: float = HPA_CPU_INITIALIZATION_PERIOD_S,
    initial_readiness_delay_s: float = HPA_INITIAL_READINESS_DELAY_S,
) -> np.ndarray:
    """``groupPods`` (replica_calculator.go, §1.4): each pod's :class:`PodStatus`, in the Go
    code's order: deleted or Failed → IGNORED; Pending → UNREADY; no sample → MISSING; for
    CPU only, :func:`cpu_sample_unready` → UNREADY; else READY."""
    ph = np.asarray(phase)
    unready_cpu = cpu & cpu_sample_unready(
        now_s,
        np.asarray(start_time_s, dtype=np.float64),
        np.asarray(ready_status, dtype=np.float64),
        np.asarray(ready_transition_s, dtype=np.float64),
        np.asarray(sample_time_s, dtype=np.float64),
        np.asarray(sample_window_s, dtype=np.float64),
        cpu_initialization_period_s,
        initial_readiness_delay_s,
    )
    return np.select(
        [
            np.asarray(deleted, dtype=bool) | (ph == "Failed"),
            ph == "Pending",
            ~np.asarray(has_sample, dtype=bool),
        ],
        [PodStatus.IGNORED, PodStatus.UNREADY, PodStatus.MISSING],
        np.where(unready_cpu, PodStatus.UNREADY, PodStatus.READY),
    ).astype(np.int64)


def _statuses(status: Sequence[int] | np.ndarray, n: int, what: str) -> np.ndarray:
    s = np.asarray(status, dtype=np.int64)
    if s.shape != (n,):
        raise ValueError(f"{what}: status must have one entry per pod ({n}), got shape {s.shape}")
    if np.any((s < 0) | (s > 3)):
        raise ValueError(f"{what}: status values must be PodStatus (0..3), got {sorted(set(s.tolist()))}")
    return s


def _pod_groups(status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ready, unready and missing masks; the calculator's two "no metric" errors (no pod, or no
    ready pod with a sample) in upstream's words."""
    if status.shape[0] == 0:
        raise MetricUnavailable("no pods returned by selector while calculating replica count")
    ready = status == PodStatus.READY
    if not ready.any():
        raise MetricUnavailable("did not receive metrics for targeted pods (pods might be unready)")
    return ready, status == PodStatus.UNREADY, status == PodStatus.MISSING


def _rebalanced(
    ready: np.ndarray,
    unready: np.ndarray,
    missing: np.ndarray,
    observed: np.ndarray,
    ratio: float,
    missing_on_scale_down: np.ndarray | int,
    scale_up_with_unready: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The slow path's pods and per-pod values (replica_calculator.go, autoscalers.md §1.5):
    ready pods keep their ``observed`` value; missing pods count ``missing_on_scale_down`` on a
    scale-down and 0 on a scale-up (nothing at ratio 1); unready pods 0 on a scale-up."""
    counted = ready.copy()
    values = np.where(ready, observed, 0)
    if missing.any():
        if ratio < 1.0:
            values = np.where(missing, missing_on_scale_down, values)
            counted |= missing
        elif ratio > 1.0:
            values = np.where(missing, 0, values)
            counted |= missing
    if scale_up_with_unready:
        values = np.where(unready, 0, values)
        counted |= unready
    return counted, values


def _slow_path_replicas(
    current_replicas: int, ratio: float, new_ratio: float, n_counted: int, tolerances: Tolerances
) -> int:
    """The re-computed count, unless it is within tolerance, flips direction against the
    first ratio, or moves the replica count against the new ratio: then the current count."""
    if tolerances.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current_replicas
    new_replicas = math.ceil(new_ratio * n_counted)
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    ):
        return current_replicas
    return new_replicas


def replicas_for_utilization(
    usage_millicores: Sequence[int] | np.ndarray,
    request_millicores: Sequence[int] | np.ndarray,
    status: Sequence[int] | np.ndarray,
    target_utilization_pct: int,
    current_replicas: int,
    tolerances: Tolerances = Tolerances(),
) -> MetricProposal:
    """``GetResourceReplicas``: a Resource metric with a ``Utilization`` target.

    Per pod: its usage and request (integer milli-units; a MISSING pod's usage is ignored),
    and its :class:`PodStatus`. ``utilization% = floor(100·Σusage/Σrequest)`` over the pods
    with metrics; outside the tolerance ``desired = ceil(ratio·readyPodCount)``. If pods are
    missing, or unready on a scale-up, the conservative re-computation of §1.5 runs: missing
    pods count ``max(100, target)`` % of their request on a scale-down and 0 on a scale-up,
    unready pods 0 on a scale-up; no change if the new ratio is within tolerance or flips
    direction, or if the new count moves against it. Raises :class:`MetricUnavailable` when no
    pod, or no ready pod with a sample, exists.
    """
    usage = np.asarray(usage_millicores, dtype=np.int64)
    request = np.asarray(request_millicores, dtype=np.int64)
    n = usage.shape[0]
    if request.shape != usage.shape:
        raise ValueError(f"replicas_for_utilization: {usage.shape[0]} usages but {request.shape[0]} requests")
    st = _statuses(status, n, "replicas_for_utilization")
    if target_utilization_pct <= 0:
        raise ValueError(
            f"replicas_for_utilization: target_utilization_pct must be > 0, got {target_utilization_pct}"
        )
    ready, unready, missing = _pod_groups(st)
    request_total = int(request[ready].sum())
    if request_total <= 0:
        raise MetricUnavailable("no metrics returned matched known pods (zero requests)")
    utilization = (int(usage[ready].sum()) * 100) // request_total
    ratio = utilization / target_utilization_pct
    ready_count = int(ready.sum())
    scale_up_with_unready = bool(unready.any()) and ratio > 1.0
    if not scale_up_with_unready and not missing.any():
        if tolerances.is_within(ratio):
            return MetricProposal(current_replicas, utilization, ratio)
        return MetricProposal(math.ceil(ratio * ready_count), utilization, ratio)

    fallback_pct = max(100, target_utilization_pct)
    counted, values = _rebalanced(
        ready, unready, missing, usage, ratio, request * fallback_pct // 100, scale_up_with_unready
    )
    new_utilization = (int(values[counted].sum()) * 100) // int(request[counted].sum())
    new_ratio = new_utilization / target_utilization_pct
    replicas = _slow_path_replicas(current_replicas, ratio, new_ratio, int(counted.sum()), tolerances)
    return MetricProposal(replicas, utilization, ratio)


def replicas_for_average_value(
    values_milli: Sequence[int] | np.ndarray,
    status: Sequence[int] | np.ndarray,
    target_milli: int,
    current_replicas: int,
    tolerances: Tolerances = Tolerances(),
) -> MetricProposal:
    """``calcPlainMetricReplicas``: a Resource ``AverageValue`` or a Pods metric.

    ``avg = floor(Σvalue/n)`` (integer milli) over pods with samples, ``ratio = avg/target``;
    same fast and slow paths as the utilisation case, except that missing pods count exactly
    the target on a scale-down.
    """
    vals = np.asarray(values_milli, dtype=np.int64)
    n = vals.shape[0]
    st = _statuses(status, n, "replicas_for_average_value")
    if target_milli <= 0:
        raise ValueError(f"replicas_for_average_value: target_milli must be > 0, got {target_milli}")
    ready, unready, missing = _pod_groups(st)
    ready_count = int(ready.sum())
    avg = int(vals[ready].sum()) // ready_count
    ratio = avg / target_milli
    scale_up_with_unready = bool(unready.any()) and ratio > 1.0
    if not scale_up_with_unready and not missing.any():
        if tolerances.is_within(ratio):
            return MetricProposal(current_replicas, avg, ratio)
        return MetricProposal(math.ceil(ratio * ready_count), avg, ratio)
    counted, values = _rebalanced(ready, unready, missing, vals, ratio, target_milli, scale_up_with_unready)
    n_counted = int(counted.sum())
    new_ratio = (int(values[counted].sum()) // n_counted) / target_milli
    replicas = _slow_path_replicas(current_replicas, ratio, new_ratio, n_counted, tolerances)
    return MetricProposal(replicas, avg, ratio)


def replicas_for_external_average_value(
    total_milli: int, target_milli: int, status_replicas: int, tolerances: Tolerances = Tolerances()
) -> MetricProposal:
    """``GetExternalPerPodMetricReplicas`` (KEDA's default): tolerance test on
    ``total/(target·statusReplicas)``; outside it ``desired = ceil(total/target)``,
    independent of the current count, so it also works from 0 replicas."""
    if target_milli <= 0:
        raise ValueError(f"replicas_for_external_average_value: target_milli must be > 0, got {target_milli}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(total_milli) / (np.float64(target_milli) * np.float64(status_replicas)))
    replicas = status_replicas
    if not tolerances.is_within(ratio):
        replicas = math.ceil(total_milli / target_milli)
    usage = math.ceil(total_milli / status_replicas) if status_replicas else 0
    return MetricProposal(replicas, usage, ratio)


def replicas_for_value(
    value_milli: int,
    target_milli: int,
    current_replicas: int,
    ready_pods: int,
    tolerances: Tolerances = Tolerances(),
) -> MetricProposal:
    """Object / External ``Value`` target (``getUsageRatioReplicaCount``):
    ``desired = ceil(ratio·readyPods)`` outside tolerance; from 0 replicas ``ceil(ratio)``."""
    if target_milli <= 0:
        raise ValueError(f"replicas_for_value: target_milli must be > 0, got {target_milli}")
    ratio = value_milli / target_milli
    if current_replicas == 0:
        return MetricProposal(math.ceil(ratio), value_milli, ratio)
    if tolerances.is_within(ratio):
        return MetricProposal(current_replicas, value_milli, ratio)
    return MetricProposal(math.ceil(ratio * ready_pods), value_milli, ratio)


def _per_env(values: object, dtype: type, n: int) -> np.ndarray:
    """``values`` as an ``(n,)`` array of ``dtype`` (a scalar broadcast; no copy when it is one)."""
    a = np.asarray(values, dtype=dtype)
    return a if a.shape == (n,) else np.broadcast_to(a, (n,))


def combine_metric_proposals(
    proposals: np.ndarray, valid: np.ndarray, spec_replicas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``computeReplicasForMetrics`` (§1.2 step 3), batched: ``proposals``/``valid`` are
    ``(n, metrics)``. Returns ``(replicas, ok)``: the maximum valid proposal, and ``ok`` False
    (do nothing this sync) when every metric failed, or when some failed and the valid
    maximum is below ``spec.replicas`` (fail safe, kubernetes#99514)."""
    p = np.asarray(proposals, dtype=np.int64)
    v = np.asarray(valid, dtype=bool)
    if p.ndim != 2 or p.shape != v.shape:
        raise ValueError(
            f"combine_metric_proposals: proposals {p.shape} and valid {v.shape} must be equal 2-D shapes"
        )
    best = np.where(v, p, np.iinfo(np.int64).min).max(axis=1)
    n_invalid = (~v).sum(axis=1)
    ok = ~((n_invalid >= p.shape[1]) | ((n_invalid > 0) & (best < np.asarray(spec_replicas, dtype=np.int64))))
    return np.where(ok, best, np.asarray(spec_replicas, dtype=np.int64)), ok


# --- behavior (§1.1 defaults, §1.6 Path B) ----------------------------------------------------


@dataclass(frozen=True)
class ScalingPolicy:
    """``HPAScalingPolicy``: at most ``value`` pods or percent per ``period_s``."""

    type: PolicyType
    value: int
    period_s: float

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent"):
            raise ValueError(f"HPA scaling policy type must be 'Pods' or 'Percent', got {self.type!r}")
        if not self.value > 0:
            raise ValueError(f"HPA scaling policy value must be > 0, got {self.value}")
        if not 0 < self.period_s <= HPA_MAX_POLICY_PERIOD_S:
            raise ValueError(f"HPA scaling policy periodSeconds must be in (0, 1800], got {self.period_s}")


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules`` for one direction. ``stabilization_window_s=None`` on scale-down is
    filled from the controller flag (``maybeInitScaleDownStabilizationWindow``)."""

    policies: tuple[ScalingPolicy, ...]
    stabilization_window_s: float | None = None
    select_policy: SelectPolicy = "Max"

    def __post_init__(self) -> None:
        if self.select_policy not in ("Max", "Min", "Disabled"):
            raise ValueError(f"HPA selectPolicy must be Max, Min or Disabled, got {self.select_policy!r}")
        w = self.stabilization_window_s
        if w is not None and not 0 <= w <= HPA_MAX_STABILIZATION_S:
            raise ValueError(f"HPA stabilizationWindowSeconds must be in [0, 3600], got {w}")
        if not self.policies and self.select_policy != "Disabled":
            raise ValueError("HPA scaling rules need at least one policy unless selectPolicy is Disabled")

    @property
    def longest_period_s(self) -> float:
        return max((p.period_s for p in self.policies), default=0.0)


def _default_scale_up() -> ScalingRules:
    # v2/defaults.go: scaleUpLimitMinimumPods=4, scaleUpLimitPercent=100, scaleUpPeriod=15, window 0.
    return ScalingRules(
        (
            ScalingPolicy("Pods", HPA_SCALE_UP_PODS, HPA_SCALE_UP_PERIOD_S),
            ScalingPolicy("Percent", HPA_SCALE_UP_PERCENT, HPA_SCALE_UP_PERIOD_S),
        ),
        HPA_SCALE_UP_STABILIZATION_S,
        "Max",
    )


def _default_scale_down() -> ScalingRules:
    # v2/defaults.go: Percent 100 / 15 s, Max, window nil (controller flag, 300 s).
    return ScalingRules(
        (ScalingPolicy("Percent", HPA_SCALE_DOWN_PERCENT, HPA_SCALE_DOWN_PERIOD_S),), None, "Max"
    )


@dataclass(frozen=True)
class HPABehavior:
    """``spec.behavior``. ``HPABehavior()`` is the API default (Path B with default rules)."""

    scale_up: ScalingRules = field(default_factory=_default_scale_up)
    scale_down: ScalingRules = field(default_factory=_default_scale_down)


# --- the normaliser (§1.2, §1.6) --------------------------------------------------------------


class HPANormalizer:
    """``horizontal.go``'s reconcile around the metric proposal, for ``num_envs`` HPAs.

    Holds what the controller keeps in memory per HPA: the timestamped recommendations and
    (Path B only) the scale-up/scale-down events. ``behavior=None`` is Path A (rolling max
    over ``downscale_stabilization_s``, inclusive of samples exactly that old, then the
    ``max(2·current, 4)`` per-sync cap); otherwise Path B (separate windows with strictly-newer
    samples, then per-period rate limits counting events strictly newer than now − period).
    """

    def __init__(
        self,
        num_envs: int,
        min_replicas: int,
        max_replicas: int,
        behavior: HPABehavior | None = None,
        downscale_stabilization_s: float = HPA_DOWNSCALE_STABILIZATION_S,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"HPANormalizer: num_envs must be > 0, got {num_envs}")
        if not 0 <= min_replicas <= max_replicas:
            raise ValueError(
                f"HPANormalizer: need 0 <= min_replicas <= max_replicas, got {min_replicas}..{max_replicas}"
            )
        if not 0 <= downscale_stabilization_s <= HPA_MAX_STABILIZATION_S:
            raise ValueError(
                f"HPANormalizer: downscale_stabilization_s must be in [0, 3600], got {downscale_stabilization_s}"
            )
        self.num_envs = num_envs
        self.min_replicas = int(min_replicas)
        self.max_replicas = int(max_replicas)
        self.behavior = behavior
        self.downscale_stabilization_s = float(downscale_stabilization_s)
        if behavior is not None:
            self.up_window_s = float(behavior.scale_up.stabilization_window_s or 0.0)
            w = behavior.scale_down.stabilization_window_s
            self.down_window_s = float(downscale_stabilization_s if w is None else w)
        self._has_history = np.zeros(num_envs, dtype=bool)
        self._recs = TimedRing(num_envs)
        self._up_events = TimedRing(num_envs)
        self._down_events = TimedRing(num_envs)

    def wipe(self, mask: np.ndarray | None = None) -> None:
        """Forget recommendations and scale events (a controller-manager restart or failover)."""
        m = env_mask(mask, self.num_envs, "HPANormalizer")
        self._has_history[m] = False
        self._recs.clear(m)
        self._up_events.clear(m)
        self._down_events.clear(m)

    def reconcile(
        self,
        now_s: np.ndarray,
        current_replicas: np.ndarray,
        proposal: np.ndarray,
        proposal_ok: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """One reconcile of the masked envs; returns the new ``spec.replicas`` for every env
        (unchanged outside ``mask``). ``proposal_ok`` False means the metric step said "do
        nothing" (all metrics failed, or some failed on a scale-down)."""
        n = self.num_envs
        now = _per_env(now_s, np.float64, n)
        cur = _per_env(current_replicas, np.int64, n)
        prop = _per_env(proposal, np.int64, n)
        ok = _per_env(proposal_ok, bool, n)
        active = env_mask(mask, n, "HPANormalizer")
        out = cur.copy()

        # Step 1: an initial recommendation (current, now) if the HPA has no history.
        fresh = np.flatnonzero(active & ~self._has_history)
        if fresh.size:
            self._recs.store(fresh, now[fresh], cur[fresh], now[fresh])
            self._has_history[fresh] = True

        # Step 2: pre-checks, which bypass the metrics, stabilisation and rate limits (none
        # applies when every count is within [min, max]: a count >= min > 0 is not disabled).
        run = active & ok
        if not (cur.min() >= self.min_replicas and cur.max() <= self.max_replicas):
            disabled = active & (cur == 0) & (self.min_replicas != 0)
            above = active & ~disabled & (cur > self.max_replicas)
            below = active & ~disabled & ~above & (cur < self.min_replicas)
            out[above] = self.max_replicas
            out[below] = self.min_replicas
            run &= ~disabled & ~above & ~below
        # Step 3/4: metric path; a failed metric step returns before any normalisation.
        normalize = self._normalize_path_a if self.behavior is None else self._normalize_path_b
        if run.all():  # every env: whole-array views, no fancy-indexed copies
            out = normalize(None, now, cur, prop).astype(np.int64, copy=False)
        elif run.any():
            rows = np.flatnonzero(run)
            out[rows] = normalize(rows, now[rows], cur[rows], prop[rows])
        # Step 5: scale events (kept only when behavior is set).
        if self.behavior is not None:
            changed = active & (out != cur)
            self._store_events(np.flatnonzero(changed & (out > cur)), now, out - cur, up=True)
            self._store_events(np.flatnonzero(changed & (out < cur)), now, cur - out, up=False)
        return out

    # Path A --------------------------------------------------------------------------------
    # ``rows``: the envs normalised (None: every env); ``now``/``cur``/``prop`` are theirs.
    def _normalize_path_a(
        self, rows: np.ndarray | None, now: np.ndarray, cur: np.ndarray, prop: np.ndarray
    ) -> np.ndarray:
        cutoff = now - self.downscale_stabilization_s
        # not Before(cutoff): a sample exactly window-old still counts. With a zero window the
        # Go code's initial recommendation of this same reconcile is nanoseconds older than the
        # cutoff, so nothing but the proposal counts; equal simulated timestamps must not.
        inclusive = self.downscale_stabilization_s > 0
        stabilized = np.maximum(prop, self._recs.windowed(rows, cutoff, inclusive, _INT64_MIN).max(axis=1))
        self._recs.store(rows, now, prop, cutoff)
        # convertDesiredReplicasWithRules: int32(max(2·cur, 4)) then min with maxReplicas.
        up_limit = np.maximum(HPA_SCALE_UP_LIMIT_FACTOR * cur, HPA_SCALE_UP_LIMIT_MINIMUM).astype(np.int64)
        max_allowed = np.minimum(up_limit, self.max_replicas)
        return np.where(
            stabilized < self.min_replicas, self.min_replicas, np.minimum(stabilized, max_allowed)
        )

    # Path B --------------------------------------------------------------------------------
    def _normalize_path_b(
        self, rows: np.ndarray | None, now: np.ndarray, cur: np.ndarray, prop: np.ndarray
    ) -> np.ndarray:
        assert self.behavior is not None
        up_rec = np.minimum(
            prop, self._recs.windowed(rows, now - self.up_window_s, False, _INT64_MAX).min(axis=1)
        )
        down_rec = np.maximum(
            prop, self._recs.windowed(rows, now - self.down_window_s, False, _INT64_MIN).max(axis=1)
        )
        stabilized = np.minimum(np.maximum(cur, up_rec), down_rec)
        self._recs.store(rows, now, prop, now - max(self.up_window_s, self.down_window_s))

        out = stabilized.copy()
        up = stabilized > cur
        if up.any():
            limit = np.maximum(self._rate_limit(rows, now, cur, self.behavior.scale_up, up=True), cur)
            out = np.where(up, np.minimum(stabilized, np.minimum(limit, self.max_replicas)), out)
        down = stabilized < cur
        if down.any():
            floor = np.minimum(self._rate_limit(rows, now, cur, self.behavior.scale_down, up=False), cur)
            out = np.where(down, np.maximum(stabilized, np.maximum(floor, self.min_replicas)), out)
        return out

    def _changes_in_period(
        self, ring: TimedRing, rows: np.ndarray | None, now: np.ndarray, period_s: float
    ) -> np.ndarray:
        return ring.windowed(rows, now - period_s, False, 0).sum(axis=1)  # After(cutoff)

    def _rate_limit(
        self, rows: np.ndarray | None, now: np.ndarray, cur: np.ndarray, rules: ScalingRules, up: bool
    ) -> np.ndarray:
        """``calculateScaleUpLimitWithScalingRules`` / ``calculateScaleDownLimitWithBehaviors``."""
        if rules.select_policy == "Disabled":
            return cur.copy()
        proposals = []
        for pol in rules.policies:
            added = self._changes_in_period(self._up_events, rows, now, pol.period_s)
            removed = self._changes_in_period(self._down_events, rows, now, pol.period_s)
            start = cur - added + removed
            if up:
                if pol.type == "Pods":
                    proposals.append(start + pol.value)
                else:  # rounded up so a small count can still grow
                    proposals.append(np.ceil(start * (1.0 + pol.value / 100.0)).astype(np.int64))
            elif pol.type == "Pods":
                proposals.append(start - pol.value)
            else:  # int32(float) truncates
                proposals.append(np.trunc(start * (1.0 - pol.value / 100.0)).astype(np.int64))
        stacked = np.stack(proposals)
        # Up: Max takes the largest limit. Down: Max (largest change) takes the smallest floor.
        if up:
            return stacked.max(axis=0) if rules.select_policy == "Max" else stacked.min(axis=0)
        return stacked.min(axis=0) if rules.select_policy == "Max" else stacked.max(axis=0)

    def _store_events(self, rows: np.ndarray, now: np.ndarray, change: np.ndarray, up: bool) -> None:
        if rows.size == 0 or self.behavior is None:
            return
        rules = self.behavior.scale_up if up else self.behavior.scale_down
        ring = self._up_events if up else self._down_events
        ring.store(rows, now[rows], change[rows], now[rows] - rules.longest_period_s)


# --- the policy on ScalingSignals ----------------------------------------------------------


def utilization_proposal_homogeneous(
    ready_pods: np.ndarray,
    unready_pods: np.ndarray,
    usage_millicores_per_pod: np.ndarray,
    request_millicores: int,
    target_utilization_pct: int | np.ndarray,
    current_replicas: np.ndarray,
    tolerances: Tolerances = Tolerances(),
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`replicas_for_utilization` vectorised for identical pods (every ready pod uses
    ``usage_millicores_per_pod``, every pod requests ``request_millicores``, no missing pods).
    Returns ``(replicas, ok)``; ``ok`` is False where the metric is unavailable (no ready pod
    or no usage sample)."""
    ready = np.asarray(ready_pods, dtype=np.int64)
    unready = np.asarray(unready_pods, dtype=np.int64)
    usage = np.asarray(usage_millicores_per_pod, dtype=np.int64)
    cur = np.asarray(current_replicas, dtype=np.int64)
    ok = ready > 0
    # floor(100·R·u/(R·req)) == floor(100·u/req): the pod count cancels exactly in integers.
    util = (100 * usage) // request_millicores
    ratio = util / target_utilization_pct
    ready_f = ready.astype(np.float64)
    within = ((1.0 - tolerances.down) <= ratio) & (ratio <= (1.0 + tolerances.up))
    fast = np.where(within, cur, np.ceil(ratio * ready_f).astype(np.int64))
    slow_needed = (unready > 0) & (ratio > 1.0)
    counted = ready + unready
    safe_counted = np.maximum(counted, 1)
    new_util = (100 * ready * usage) // (safe_counted * request_millicores)
    new_ratio = new_util / target_utilization_pct
    new_within = ((1.0 - tolerances.down) <= new_ratio) & (new_ratio <= (1.0 + tolerances.up))
    hold = new_within | (new_ratio < 1.0)  # ratio > 1 here, so newRatio < 1 is a direction flip
    new_replicas = np.ceil(new_ratio * counted.astype(np.float64)).astype(np.int64)
    hold |= (new_ratio > 1.0) & (new_replicas < cur)
    slow = np.where(hold, cur, new_replicas)
    return np.where(slow_needed, slow, fast), ok


#: A reconcile this fraction of a sync period early still counts as due (live tick jitter).
SYNC_JITTER_FRACTION = 0.1
#: Readings above this (10^4 × the CPU request) are taken as this: in millicores they would
#: overflow int64 (2e16 did, and read as no load), and any real pod's limit/request ratio is far
#: below it, so the proposal is already past any max_replicas.
MAX_CPU_UTILIZATION = 1e4


class HPAPolicy:
    """The HPA on CPU utilisation, as a batched :class:`Policy`.

    Mapping from :class:`ScalingSignals` (the simulator's pods are identical):
    ``currentReplicas`` = ``desired_replicas`` (scale.spec.replicas); ready pods =
    ``ready_replicas``, each using ``cpu_utilization × request``; pending pods are *unready*
    (0 in the scale-up re-computation); no pod is *missing*; NaN utilisation or no ready pod is
    a failed metric, so the HPA does nothing that sync. Where the signals carry the per-pod
    view (``signals.pods``), ready pods whose CPU sample predates their readiness by less than
    a window, inside the CPU initialisation period, are *unready* as well
    (:func:`cpu_sample_unready`): a just-ready pod has not served in the sample yet. Without
    the view every ready pod counts as ready (a Prometheus source). Time comes from ``signals.time_s``; the
    HPA reconciles an env when ``sync_period_s`` has passed since its last reconcile and
    returns ``desired_replicas`` unchanged otherwise (with the default 15 s decision period
    and 15 s sync it reconciles every call; a call up to 10 % of a period early counts, so the
    jittery ticks of a live loop never skip a sync).

    ``target_utilization_pct`` may be a ``(num_envs,)`` array: each env is its own HPA object
    with its own target (the evaluation runs the frontier sweep as one batch).
    ``behavior``: ``None`` (Path A, like ``autoscaling/v1``), ``"default"`` (Path B with API
    defaults) or an :class:`HPABehavior`. Tolerances may differ per direction
    (``HPAConfigurableTolerance``).
    """

    name = "hpa"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        target_utilization_pct: int | np.ndarray = HPA_DEFAULT_CPU_UTILIZATION_PCT,
        tolerance: float = HPA_TOLERANCE,
        tolerance_up: float | None = None,
        tolerance_down: float | None = None,
        sync_period_s: float = HPA_SYNC_PERIOD_S,
        downscale_stabilization_s: float = HPA_DOWNSCALE_STABILIZATION_S,
        behavior: HPABehavior | Literal["nil", "default"] | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        cpu_initialization_period_s: float = HPA_CPU_INITIALIZATION_PERIOD_S,
        initial_readiness_delay_s: float = HPA_INITIAL_READINESS_DELAY_S,
    ) -> None:
        if num_envs <= 0:
            raise ValueError(f"hpa: num_envs must be > 0, got {num_envs}")
        if not (cpu_initialization_period_s >= 0 and initial_readiness_delay_s >= 0):
            raise ValueError(
                "hpa: cpu_initialization_period_s and initial_readiness_delay_s must be >= 0, got "
                f"{cpu_initialization_period_s} and {initial_readiness_delay_s}"
            )
        target = np.asarray(target_utilization_pct)
        if target.ndim > 1 or (target.ndim == 1 and target.shape != (num_envs,)):
            raise ValueError(
                f"hpa: target_utilization_pct must be a scalar or ({num_envs},), got {target.shape}"
            )
        if not np.all(target > 0):
            raise ValueError(f"hpa: target_utilization_pct must be > 0, got {target_utilization_pct}")
        if not np.all(np.rint(target) == target):
            raise ValueError(
                f"hpa: target_utilization_pct is a whole percent (int32 in the API), got {target_utilization_pct}"
            )
        if not sync_period_s > 0:
            raise ValueError(f"hpa: sync_period_s must be > 0, got {sync_period_s}")
        if behavior == "nil":
            behavior = None
        elif behavior == "default":
            behavior = HPABehavior()
        elif behavior is not None and not isinstance(behavior, HPABehavior):
            raise ValueError(
                f"hpa: behavior must be None, 'nil', 'default' or an HPABehavior, got {behavior!r}"
            )
        self.spec = spec
        self.num_envs = int(num_envs)
        # one HPA object per env in Kubernetes; a per-env array here runs a target sweep as one batch
        self.target_utilization_pct: int | np.ndarray = (
            int(target) if target.ndim == 0 else target.astype(np.int64)
        )
        self.tolerances = Tolerances(
            up=tolerance if tolerance_up is None else tolerance_up,
            down=tolerance if tolerance_down is None else tolerance_down,
        )
        self.sync_period_s = float(sync_period_s)
        self.cpu_initialization_period_s = float(cpu_initialization_period_s)
        self.initial_readiness_delay_s = float(initial_readiness_delay_s)
        self.min_replicas, self.max_replicas = resolve_bounds(spec, min_replicas, max_replicas, "hpa")
        self.request_millicores = round(spec.cpu_request_cores * 1000)
        if self.request_millicores <= 0:
            raise ValueError(
                f"hpa: spec.cpu_request_cores must be > 0 for a Utilization target, got {spec.cpu_request_cores}"
            )
        self.normalizer = HPANormalizer(
            self.num_envs, self.min_replicas, self.max_replicas, behavior, downscale_stabilization_s
        )
        self._next_sync_s = np.full(self.num_envs, -np.inf)

    @property
    def behavior(self) -> HPABehavior | None:
        return self.normalizer.behavior

    def reset(self, mask: np.ndarray | None = None) -> None:
        m = env_mask(mask, self.num_envs, self.name)
        self.normalizer.wipe(m)
        self._next_sync_s[m] = -np.inf

    def wipe(self, mask: np.ndarray | None = None) -> None:
        """A controller restart: history is lost, the sync schedule is not."""
        self.normalizer.wipe(mask)

    def proposals(
        self, signals: ScalingSignals, current: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The CPU metric's proposal and validity per env (before normalisation); ``current``:
        ``current_replicas(signals)`` when the caller has it already."""
        cur = current_replicas(signals) if current is None else current
        util = np.asarray(signals.cpu_utilization, dtype=np.float64)
        finite = np.isfinite(util)
        util = np.minimum(util, MAX_CPU_UTILIZATION)
        usage_m = np.where(finite, np.rint(np.where(finite, util, 0.0) * self.request_millicores), 0).astype(
            np.int64
        )
        usage_m = np.maximum(usage_m, 0)
        ready = as_count(signals.ready_replicas)
        unready = as_count(signals.pending_replicas)
        if signals.pods is not None:
            not_yet = self.ready_pods_unready_for_cpu(signals)
            ready, unready = ready - not_yet, unready + not_yet
        replicas, ok = utilization_proposal_homogeneous(
            ready,
            unready,
            usage_m,
            self.request_millicores,
            self.target_utilization_pct,
            cur,
            self.tolerances,
        )
        return replicas, ok & finite

    def ready_pods_unready_for_cpu(self, signals: ScalingSignals) -> np.ndarray:
        """Per env, the ready pods of ``signals.pods`` that ``groupPods`` counts as unready for
        CPU (their sample predates their readiness, inside the initialisation period)."""
        view = signals.pods
        assert view is not None
        listed = ~np.isnan(view.ready_time_s)
        unready = cpu_sample_unready(
            np.asarray(signals.time_s, dtype=np.float64)[:, None],
            view.start_time_s,
            1.0,  # every listed pod is Ready
            view.ready_time_s,
            np.asarray(view.cpu_sample_time_s)[:, None],
            np.asarray(view.cpu_sample_window_s)[:, None],
            self.cpu_initialization_period_s,
            self.initial_readiness_delay_s,
        )
        return (unready & listed).sum(axis=1).astype(np.int64)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        now = np.asarray(signals.time_s, dtype=np.float64)
        cur = current_replicas(signals)
        # A live controller's ticks jitter around the period: a call up to 10 % early still
        # counts as the next sync, so a 14.99 s gap never skips a whole HPA period.
        due = now >= self._next_sync_s - max(TIME_EPS_S, SYNC_JITTER_FRACTION * self.sync_period_s)
        if not due.any():
            return cur
        proposal, ok = self.proposals(signals, cur)
        out = self.normalizer.reconcile(now, cur, proposal, ok, mask=due)
        self._next_sync_s = np.where(due, now + self.sync_period_s, self._next_sync_s)
        return out.astype(np.int64)
