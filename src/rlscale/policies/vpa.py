"""Vertical baselines for the replicas × CPU × heap problem (seed 001): the VPA recommender
and updater (reference/autoscalers.md §2), the HPA with a fixed pod template, and HPA+VPA.

A vertical policy maps :class:`VerticalSignals` to a :class:`VerticalAction` (replicas, CPU
limit, heap) per service. NumPy only (policies are importable by the live controller).

The VPA sets CPU requests (= limits here, Guaranteed QoS as in the measured TeaStore); it
cannot change a JVM's ``-Xmx``, so the heap stays where it is.
"""

from __future__ import annotations

import math

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.core.vertical import VerticalAction, VerticalSignals
from rlscale.policies._common import current_replicas, env_mask
from rlscale.policies.hpa import HPAPolicy

# VPA constants, kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender
# (reference/autoscalers.md §2).
VPA_BUCKET_GROWTH = 1.05  # each bucket 5 % wider than the previous
VPA_CPU_FIRST_BUCKET_CORES = 0.01
VPA_CPU_MAX_CORES = 1000.0
VPA_HALF_LIFE_S = 24 * 3600.0
VPA_MIN_SAMPLE_WEIGHT = 0.1
VPA_SAFETY_MARGIN = 0.15
VPA_TARGET_PERCENTILE = 0.90
VPA_LOWER_PERCENTILE = 0.50
VPA_UPPER_PERCENTILE = 0.95
VPA_MIN_CPU_CORES = 0.025
VPA_UPDATE_THRESHOLD = 0.10
VPA_POD_LIFETIME_THRESHOLD_S = 12 * 3600.0
VPA_UPDATER_INTERVAL_S = 60.0
#: Samples per day of confidence: one usage sample per minute (metrics-server poll).
VPA_SAMPLES_PER_DAY = 1440.0


class DecayingHistogram:
    """VPA's decaying histogram, batched: exponential buckets, sample weights that double
    every half-life (equivalent to old samples halving), percentiles by bucket (VPA reports
    the bucket's upper edge... we report the bucket start as ``histogram.go`` does)."""

    def __init__(self, num_envs: int, first_bucket: float, max_value: float, half_life_s: float) -> None:
        n_buckets = math.ceil(math.log(max_value / first_bucket) / math.log(VPA_BUCKET_GROWTH)) + 1
        self.starts = np.concatenate([[0.0], first_bucket * VPA_BUCKET_GROWTH ** np.arange(n_buckets - 1)])
        self.weights = np.zeros((num_envs, n_buckets))
        self.half_life_s = half_life_s
        self.ref_time_s = np.zeros(num_envs)

    def reset(self, mask: np.ndarray) -> None:
        self.weights[mask] = 0.0
        self.ref_time_s[mask] = 0.0

    def add(self, values: np.ndarray, weights: np.ndarray, time_s: np.ndarray, mask: np.ndarray) -> None:
        idx = np.clip(np.searchsorted(self.starts, values, side="right") - 1, 0, self.starts.size - 1)
        # weight grows 2^(t/half_life) relative to the reference time: old samples decay
        w = weights * np.exp2((time_s - self.ref_time_s) / self.half_life_s)
        rows = np.flatnonzero(mask & np.isfinite(values))
        self.weights[rows, idx[rows]] += w[rows]

    def percentile(self, q: float) -> np.ndarray:
        total = self.weights.sum(axis=1)
        cum = np.cumsum(self.weights, axis=1)
        idx = np.argmax(cum >= q * total[:, None] - 1e-12, axis=1)
        # VPA's histogram.Percentile returns the *end* of the bucket holding the percentile
        ends = np.concatenate([self.starts[1:], [self.starts[-1] * VPA_BUCKET_GROWTH]])
        return np.where(total > 0, ends[idx], np.nan)


class VPARecommender:
    """CPU recommendations per service: target p90, lower p50, upper p95, each × 1.15 and
    scaled by the confidence multipliers (reference/autoscalers.md §2)."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.hist = DecayingHistogram(
            num_envs, VPA_CPU_FIRST_BUCKET_CORES, VPA_CPU_MAX_CORES, VPA_HALF_LIFE_S
        )
        self.first_s = np.full(num_envs, np.nan)
        self.last_s = np.full(num_envs, np.nan)
        self.samples = np.zeros(num_envs)

    def reset(self, mask: np.ndarray) -> None:
        self.hist.reset(mask)
        self.first_s[mask] = np.nan
        self.last_s[mask] = np.nan
        self.samples[mask] = 0.0

    def observe(
        self, usage_cores: np.ndarray, request_cores: np.ndarray, time_s: np.ndarray, interval_s: float
    ) -> None:
        ok = np.isfinite(usage_cores)
        weight = np.maximum(request_cores, VPA_MIN_SAMPLE_WEIGHT)
        self.hist.add(usage_cores, weight, time_s, ok)
        self.first_s = np.where(ok & np.isnan(self.first_s), time_s, self.first_s)
        self.last_s = np.where(ok, time_s, self.last_s)
        self.samples += ok * (interval_s / 60.0)  # in one-minute samples

    def confidence(self) -> np.ndarray:
        days = np.nan_to_num(self.last_s - self.first_s, nan=0.0) / 86400.0
        return np.minimum(days, self.samples / VPA_SAMPLES_PER_DAY)

    def recommend(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower, target, upper) CPU in cores (NaN with no samples)."""
        margin = 1.0 + VPA_SAFETY_MARGIN
        c = np.maximum(self.confidence(), 1e-12)
        target = np.maximum(self.hist.percentile(VPA_TARGET_PERCENTILE) * margin, VPA_MIN_CPU_CORES)
        lower = np.maximum(
            self.hist.percentile(VPA_LOWER_PERCENTILE) * margin * (1.0 + 0.001 / c) ** -2, VPA_MIN_CPU_CORES
        )
        upper = np.maximum(
            self.hist.percentile(VPA_UPPER_PERCENTILE) * margin * (1.0 + 1.0 / c), VPA_MIN_CPU_CORES
        )
        return lower, target, upper


class VPAPolicy:
    """The VPA on CPU with its eviction updater; replicas and heap stay as they are.

    The updater (every ``updater_interval_s``) applies the target when the current request
    is outside [lower, upper], or when the pods have lived ``> 12 h`` and the target differs
    by ``>= 10 %``. Applied values are rounded *up* to the CPU grid (``cpu_step_cores``) and
    clipped to [cpu_min, cpu_max]: the seed's 100 m actions.
    """

    name = "vpa"

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        *,
        cpu_min_cores: float = 0.1,
        cpu_max_cores: float = 0.9,
        cpu_step_cores: float = 0.1,
        updater_interval_s: float = VPA_UPDATER_INTERVAL_S,
    ) -> None:
        self.spec = spec
        self.num_envs = num_envs
        self.cpu_min_cores, self.cpu_max_cores, self.cpu_step_cores = (
            cpu_min_cores,
            cpu_max_cores,
            cpu_step_cores,
        )
        self.updater_interval_s = updater_interval_s
        self.recommender = VPARecommender(num_envs)
        self._next_update_s = np.full(num_envs, -np.inf)
        self._pod_birth_s = np.zeros(num_envs)

    def reset(self, mask: np.ndarray | None = None) -> None:
        m = env_mask(mask, self.num_envs, self.name)
        self.recommender.reset(m)
        self._next_update_s[m] = -np.inf
        self._pod_birth_s[m] = 0.0

    def recommend_cpu(self, obs: VerticalSignals) -> np.ndarray:
        """Observe this period's usage and return the CPU limit the updater wants now."""
        t = np.asarray(obs.signals.time_s, dtype=np.float64)
        cur = np.asarray(obs.cpu_limit_cores, dtype=np.float64)
        self.recommender.observe(obs.cpu_usage_cores, cur, t, self.spec.step_s)
        lower, target, upper = self.recommender.recommend()
        due = t + 1e-9 >= self._next_update_s
        self._next_update_s = np.where(due, t + self.updater_interval_s, self._next_update_s)
        outside = (cur < lower) | (cur > upper)
        old = (t - self._pod_birth_s) > VPA_POD_LIFETIME_THRESHOLD_S
        big = np.abs(target - cur) >= VPA_UPDATE_THRESHOLD * cur
        evict = due & np.isfinite(target) & (outside | (old & big))
        grid = np.ceil(target / self.cpu_step_cores - 1e-9) * self.cpu_step_cores
        new = np.clip(np.round(grid, 6), self.cpu_min_cores, self.cpu_max_cores)
        evict &= np.abs(new - cur) > 1e-9
        self._pod_birth_s = np.where(evict, t, self._pod_birth_s)
        return np.where(evict, new, cur)

    def act(self, obs: VerticalSignals) -> VerticalAction:
        return VerticalAction(
            current_replicas(obs.signals),
            self.recommend_cpu(obs),
            np.asarray(obs.heap_mb, dtype=np.float64).copy(),
        )


class HPAVerticalPolicy:
    """The Kubernetes HPA on CPU utilisation with the pod template left alone."""

    name = "hpa"

    def __init__(self, spec: ServiceSpec, num_envs: int = 1, **hpa_kwargs: object) -> None:
        self.spec = spec
        self.num_envs = num_envs
        self.hpa = HPAPolicy(spec, num_envs, **hpa_kwargs)  # type: ignore[arg-type]

    def reset(self, mask: np.ndarray | None = None) -> None:
        self.hpa.reset(mask)

    def act(self, obs: VerticalSignals) -> VerticalAction:
        return VerticalAction(
            self.hpa.act(obs.signals),
            np.asarray(obs.cpu_limit_cores, float).copy(),
            np.asarray(obs.heap_mb, float).copy(),
        )


class HPAVPAPolicy:
    """HPA (replicas on CPU utilisation) and VPA (CPU request) together, as AWARE's
    baseline. Both read CPU, which is the documented caveat of running them together."""

    name = "hpa+vpa"

    def __init__(
        self, spec: ServiceSpec, num_envs: int = 1, vpa_kwargs: dict | None = None, **hpa_kwargs: object
    ) -> None:
        self.spec = spec
        self.num_envs = num_envs
        self.hpa = HPAPolicy(spec, num_envs, **hpa_kwargs)  # type: ignore[arg-type]
        self.vpa = VPAPolicy(spec, num_envs, **(vpa_kwargs or {}))

    def reset(self, mask: np.ndarray | None = None) -> None:
        self.hpa.reset(mask)
        self.vpa.reset(mask)

    def act(self, obs: VerticalSignals) -> VerticalAction:
        replicas = self.hpa.act(obs.signals)
        return VerticalAction(replicas, self.vpa.recommend_cpu(obs), np.asarray(obs.heap_mb, float).copy())
