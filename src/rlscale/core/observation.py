"""The one observation layout used by the environments and by the live controller.

Every feature is scale-free: load is expressed in units of one pod's capacity relative to
the replicas the service has, trends are log-ratios, latency is in SLO units. That is what
lets one learned policy serve a 2-pod service and a 200-pod service (DESIGN.md §4).
A test builds the vector from the same samples through the env path and the live path and
compares them, so changing this file changes both.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


class Forecaster(Protocol):
    """A load forecaster the builder can feed (:class:`rlscale.nets.forecaster.LoadForecaster`)."""

    @property
    def history_steps(self) -> int:
        """Periods of history ``forecast`` reads."""
        ...

    def forecast(self, hist: np.ndarray) -> np.ndarray:
        """``(n, history_steps)`` observed rates, oldest first -> ``(n,)`` mean rate over the
        start-up horizon, req/s."""
        ...


#: Load history lags, in decision periods (15 s each by default: up to 4 minutes back).
HISTORY_LAGS: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
#: Time constant of the long load memory (``load_peak_memory``): a peak decays by e^-1 in
#: 2 hours. Four minutes of history cannot tell a service whose load jumps every hour (a
#: bursty trace, a sparse GPU-inference trace) from a smooth one; a decayed peak can, at the
#: cost of one number per service. 2 h, not a day: a diurnal service must not keep its
#: daytime peak all night (on validation windows a 6 h or 24 h memory scored slightly better
#: within the 6 h evaluation windows, which cannot see that night-time cost).
PEAK_MEMORY_S = 7200.0

#: Feature names in vector order. Checkpoints store this list; a mismatch is refused.
OBSERVATION_FEATURES: tuple[str, ...] = (
    "load_per_desired",  # rate / (capacity * desired): utilisation once pending pods are ready
    "load_per_ready",  # rate / (capacity * ready): utilisation now
    "cpu_utilization",  # usage / request over ready pods
    "ready_fraction",  # ready / desired
    "pending_fraction",  # pending / desired
    "backlog_drain_slo",  # backlog drain time in SLO units
    "latency_p95_slo",  # p95 latency in SLO units
    "dropped_fraction",  # dropped / offered
    "replica_position",  # (desired - min) / (max - min)
    "inv_desired",  # 1 / desired: how much one pod changes capacity
    "load_of_max",  # rate / (capacity * max_replicas): headroom to the ceiling
    *(f"load_trend_{lag}" for lag in HISTORY_LAGS),  # log(rate[t-lag] / rate[t])
    "forecast_trend",  # log(forecast over the start-up horizon / rate[t]); 0 without a forecaster
    "load_peak_memory",  # peak rate decayed over PEAK_MEMORY_S / (capacity * desired)
)

_CLIP_HIGH = 10.0
_TREND_CLIP = 3.0
_N_SCALAR = 11  # features before the trend block
_TREND_SLICE = slice(_N_SCALAR, _N_SCALAR + len(HISTORY_LAGS))
_FORECAST = OBSERVATION_FEATURES.index("forecast_trend")
_PEAK_MEMORY = OBSERVATION_FEATURES.index("load_peak_memory")
# Per-feature clip bounds, in OBSERVATION_FEATURES order.
_LOW = np.array([0.0] * _N_SCALAR + [-_TREND_CLIP] * (len(HISTORY_LAGS) + 1) + [0.0], dtype=np.float32)
_HIGH = np.array(
    [_CLIP_HIGH, _CLIP_HIGH, _CLIP_HIGH, 2.0, 2.0, _CLIP_HIGH, _CLIP_HIGH, 1.0, 1.0, 1.0, 2.0]
    + [_TREND_CLIP] * (len(HISTORY_LAGS) + 1)
    + [_CLIP_HIGH],
    dtype=np.float32,
)


def observation_size() -> int:
    return len(OBSERVATION_FEATURES)


def observation_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float32 bounds of every feature, matching the clips in ``build`` (the
    Gymnasium Box of the envs uses them)."""
    return _LOW.copy(), _HIGH.copy()


def _clean(x: np.ndarray, low: float, fill: float | np.ndarray = 0.0) -> np.ndarray:
    """Non-finite values (a missing live metric) become ``fill``, then clip below at ``low``."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(np.where(np.isfinite(x), x, fill), low)


class ObservationBuilder:
    """Turns a stream of :class:`ScalingSignals` into observation vectors, keeping the load
    history each service needs for its trend features. Batched over ``num_envs``.

    Besides the ring it keeps one decayed peak per service (``load_peak_memory``):
    ``peak ← max(rate, peak · e^(−step/PEAK_MEMORY_S))``.

    With a ``forecaster`` the ``forecast_trend`` feature comes from it, fed with the same
    observed rates as the trend features, so the env and the live controller forecast alike;
    without one it is 0 unless ``build`` is handed a forecast.

    NaN signals (a missing live metric) become neutral values here; whether to act on
    them at all is the safety guard's call.
    """

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        forecaster: Forecaster | None = None,
    ) -> None:
        self.spec = spec
        self.num_envs = num_envs
        self._history_len = max(HISTORY_LAGS) + 1
        if forecaster is not None and not 0 < forecaster.history_steps <= self._history_len:
            raise ValueError(
                f"the forecaster reads {forecaster.history_steps} periods of history; the builder "
                f"keeps {self._history_len}"
            )
        self.forecaster = forecaster
        # ring of log(rate + eps) (the trend features' logs, taken once per sample rather than
        # once per lag per build), slot-major so a lag is one contiguous row; row ``_pos``
        # holds the newest sample
        self._eps = 0.01 * spec.pod_capacity_rps
        self._log_history = np.zeros((self._history_len, num_envs), dtype=np.float64)
        self._pos = 0
        self._lags = np.asarray(HISTORY_LAGS, dtype=np.intp)
        self._fresh = np.ones(num_envs, dtype=bool)
        self._peak_decay = float(np.exp(-spec.step_s / PEAK_MEMORY_S))
        self._peak = np.zeros(num_envs, dtype=np.float64)  # decayed peak rate, req/s

    def reset(self, mask: np.ndarray | None = None, rate_rps: np.ndarray | None = None) -> None:
        """Forget the load history of the masked services (all if ``mask`` is None).

        With ``rate_rps`` (shape ``(n,)``) the history of those services is filled with it at
        once, exactly as a ``build`` on a fresh row would, so a batched env can autoreset some
        services mid-batch without a second ``build`` touching the others."""
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        if rate_rps is None:
            self._fresh[sel] = True
            return
        rate = _clean(rate_rps, 0.0)
        self._log_history[:, sel] = np.log(rate + self._eps)[sel]
        self._peak[sel] = rate[sel]
        self._fresh[sel] = False

    def _advance(self, rate: np.ndarray) -> np.ndarray:
        """Push one period's rate into the ring and the decayed peak (fresh rows are filled
        with it); returns ``log(rate + eps)``."""
        log_now = np.log(rate + self._eps)
        pos = self._pos = (self._pos + 1) % self._history_len
        self._log_history[pos] = log_now
        peak = self._peak
        peak *= self._peak_decay
        np.maximum(peak, rate, out=peak)
        if self._fresh.any():
            self._log_history[:, self._fresh] = log_now[self._fresh]
            peak[self._fresh] = rate[self._fresh]
            self._fresh[:] = False
        return log_now

    def warm(self, rates_rps: np.ndarray) -> int:
        """Replay past request rates, ``(T, n)`` one row per period, oldest first, into the
        load history and the peak memory exactly as ``build`` would have taken them, so a
        restarted controller does not start with a blank trend and a forgotten peak. A NaN
        (a period Prometheus has no sample for) repeats the service's previous rate; rows
        before the first sample are skipped. Returns the number of periods replayed."""
        rates = np.asarray(rates_rps, dtype=np.float64)
        if rates.ndim == 1 and self.num_envs == 1:
            rates = rates[:, None]
        if rates.ndim != 2 or rates.shape[1] != self.num_envs:
            raise ValueError(f"warm: rates must have shape (T, {self.num_envs}), got {rates.shape}")
        seen = np.isfinite(rates)
        if not seen.any():
            return 0
        first = int(np.argmax(seen.any(axis=1)))
        # a service without a sample yet starts from its own first one
        last = np.array([col[np.isfinite(col)][0] if np.isfinite(col).any() else 0.0 for col in rates.T])
        for row in rates[first:]:
            last = np.where(np.isfinite(row), np.maximum(row, 0.0), last)
            self._advance(np.nan_to_num(last, nan=0.0))
        return rates.shape[0] - first

    # a metric beyond float32's range (a 1e38-s latency from a broken exporter) becomes inf in
    # ``out`` and the clip bounds it: that overflow is expected, not worth a warning per period
    @np.errstate(over="ignore")
    def build(self, signals: ScalingSignals, forecast_rps: np.ndarray | None = None) -> np.ndarray:
        """Append this period's rate to the history and return the ``(n, D)`` float32 vector.
        ``forecast_rps`` (the env's clairvoyant forecast) overrides the builder's forecaster."""
        spec = self.spec
        capacity = spec.pod_capacity_rps
        rate = _clean(signals.request_rate_rps, 0.0)
        desired = np.maximum(np.asarray(signals.desired_replicas, dtype=np.float64), 1.0)
        ready = _clean(signals.ready_replicas, 0.0)

        eps = self._eps
        log_now = self._advance(rate)
        history, pos, peak = self._log_history, self._pos, self._peak

        pod_rate = capacity * np.maximum(ready, 1.0)
        out = np.empty((rate.shape[0], len(OBSERVATION_FEATURES)), dtype=np.float32)
        out[:, 0] = rate / (capacity * desired)
        out[:, 1] = rate / pod_rate
        out[:, 2] = _clean(signals.cpu_utilization, 0.0)
        out[:, 3] = ready / desired
        out[:, 4] = _clean(signals.pending_replicas, 0.0) / desired
        out[:, 5] = _clean(signals.backlog_requests, 0.0) / (pod_rate * spec.slo_latency_s)
        out[:, 6] = _clean(signals.latency_p95_s, 0.0) / spec.slo_latency_s
        out[:, 7] = _clean(signals.dropped_rps, 0.0) / np.maximum(rate, eps)
        out[:, 8] = (desired - spec.min_replicas) / max(spec.max_replicas - spec.min_replicas, 1)
        out[:, 9] = 1.0 / desired
        out[:, 10] = rate / (capacity * spec.max_replicas)
        np.subtract(history[(pos - self._lags) % self._history_len], log_now, out=out[:, _TREND_SLICE].T)
        if forecast_rps is None and self.forecaster is not None:
            steps = self.forecaster.history_steps
            oldest_first = (pos - np.arange(steps - 1, -1, -1)) % self._history_len
            forecast_rps = self.forecaster.forecast(np.exp(history[oldest_first].T) - eps)
        if forecast_rps is None:
            out[:, _FORECAST] = 0.0
        else:
            out[:, _FORECAST] = np.log(_clean(forecast_rps, 0.0, fill=rate) + eps) - log_now
        out[:, _PEAK_MEMORY] = peak / (capacity * desired)
        np.maximum(out, _LOW, out=out)  # = np.clip(out, _LOW, _HIGH), without its overhead
        np.minimum(out, _HIGH, out=out)
        return out
