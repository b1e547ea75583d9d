"""The batched cluster simulator (DESIGN.md §3): one call advances ``num_envs`` independent
services by one step of ``spec.step_s`` seconds, with no Python loop over environments.

Order within a step ``t`` (the decision was taken on the signals after step ``t − 1``):

1. the desired count is clamped to [min, max]; scale-up creates pending pods that cost money
   at once and serve from step ``t + d`` (``d`` = the jittered start-up delay rounded up to
   whole steps; ``d = 0`` serves at once); scale-down removes pending pods first (newest
   first, as a ReplicaSet does), then ready pods, which stop serving at once;
2. arrivals ``A ~ Poisson(lambda·dt)`` (or ``lambda·dt``), capacity ``C = ready·mu·dt``;
   served ``= min(B + A, C)``; what is left queues up to the smaller of the queue bound and
   what the ready pods can drain within the request timeout, the rest is dropped, so
   ``served + dropped + backlog_end = backlog_start + offered``;
3. latency: ``base + U + T`` per request, ``T`` the M/M/c sojourn (Erlang C waiting +
   exponential service) when no backlog, else exponential service after a fluid drain delay
   ``U`` uniform between ``B_start/(c·mu)`` and ``B_end/(c·mu)`` (waiting in line behind the
   backlog replaces the M/M/c wait). ``violating`` is ``served · P(latency > SLO)``;
4. metrics go into a lag ring buffer; pods due at ``t + 1`` become ready.

The state is updated **in place** and returned, so the hot loop allocates little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import (
    _latency_surv_dens,
    erlang_c_unchecked,
    latency_quantile_fast,
    latency_quantile_params,
)

#: Service rate used for the deterministic "linear" latency model (seed 000): an exponential
#: this fast is a point mass for every practical purpose.
_DETERMINISTIC_RATE = 1.0e12
#: Newton iterations for the per-step p95 (see ``queueing.latency_quantile_fast``): 3 give a
#: relative error below ~3e-5, plenty for a scaler's signal; run-level quantiles are exact
#: (``latency_mixture_quantile``).
P95_ITERATIONS = 3


@dataclass(eq=False)
class SimState:
    """Struct of arrays with a leading ``num_envs`` axis (mutated in place by :func:`step`).

    ``pending[(step_index + k) % H]`` (shape ``(H, n)``, slot-major so each slot is one
    contiguous vector) holds the pods that become ready at the end of step ``step_index + k − 1``; the lag buffers hold the last ``metric_lag_steps + 1`` periods'
    metrics, oldest at ``step_index % (lag + 1)``.
    """

    ready: np.ndarray  # int64 (n,)
    pending: np.ndarray  # int64 (H, n) ring of future ready counts
    backlog: np.ndarray  # float64 (n,) queued requests
    desired: np.ndarray  # int64 (n,) last clamped desired count
    step_index: int  # global step counter (ring-buffer position)
    elapsed_steps: np.ndarray  # int64 (n,) steps since each env's reset
    time_s: np.ndarray  # float64 (n,) seconds since each env's reset
    lag_rate_rps: np.ndarray  # float64 (n, lag+1)
    lag_cpu_utilization: np.ndarray
    lag_latency_p95_s: np.ndarray
    lag_backlog_requests: np.ndarray
    lag_dropped_rps: np.ndarray

    @property
    def num_envs(self) -> int:
        return int(self.ready.shape[0])

    @property
    def pending_total(self) -> np.ndarray:
        return self.pending.sum(axis=0)

    def copy(self) -> SimState:
        return SimState(
            **{
                f.name: (
                    getattr(self, f.name).copy()
                    if isinstance(getattr(self, f.name), np.ndarray)
                    else getattr(self, f.name)
                )
                for f in fields(self)
            }
        )


@dataclass(eq=False)
class StepMetrics:
    """One step's outcome per environment (arrays of shape ``(num_envs,)``; counts are requests
    in the step). ``violating`` counts served requests slower than the SLO (dropped ones are
    separate: evaluation adds them). ``lat_*`` are the parameters of the step's latency law
    ``base + Uniform(0, width) + T(wait_prob, wait_rate, service_rate)``, see
    :func:`latency_survival`."""

    arrival_rate_rps: np.ndarray
    offered: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    backlog_start: np.ndarray
    backlog: np.ndarray
    violating: np.ndarray
    ready: np.ndarray
    pending: np.ndarray
    desired: np.ndarray
    pod_seconds: np.ndarray
    cpu_core_seconds: np.ndarray
    memory_gib_seconds: np.ndarray
    cost_usd: np.ndarray
    cpu_utilization: np.ndarray
    latency_mean_s: np.ndarray
    latency_p95_s: np.ndarray
    lat_base_s: np.ndarray
    lat_width_s: np.ndarray
    lat_wait_prob: np.ndarray
    lat_wait_rate: np.ndarray
    lat_service_rate: np.ndarray

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def stack(cls, items: Sequence[StepMetrics]) -> StepMetrics:
        """Stack a run's steps: every field becomes ``(T, num_envs)``."""
        if not items:
            raise ValueError("StepMetrics.stack: no steps")
        return cls(**{name: np.stack([getattr(m, name) for m in items]) for name in cls.field_names()})

    def select(self, index: np.ndarray | slice | int) -> StepMetrics:
        return StepMetrics(
            **{name: np.asarray(getattr(self, name))[..., index] for name in self.field_names()}
        )

    @property
    def slo_failures(self) -> np.ndarray:
        """Requests that failed the SLO this step: slow served ones plus dropped ones."""
        return self.violating + self.dropped


# ------------------------------------------------------------------------------------ helpers
def _f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _latency_params(
    params: ServiceParams,
    ready: np.ndarray,
    lam_served_rps: np.ndarray,
    backlog_start: np.ndarray,
    backlog_end: np.ndarray,
    saturated: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(base, width, wait_prob, wait_rate, service_rate) of each env's latency law this step."""
    mu = _f64(params.mu_rps)
    c = ready.astype(np.float64)
    cmu = c * mu
    inv_cmu = np.divide(1.0, cmu, out=np.zeros(np.broadcast_shapes(cmu.shape, c.shape)), where=cmu > 0)
    d0 = backlog_start * inv_cmu
    d1 = backlog_end * inv_cmu
    base = _f64(params.base_latency_s) + np.minimum(d0, d1)
    width = np.abs(d1 - d0)
    if params.latency_model == "linear":
        rho = np.minimum(lam_served_rps * np.divide(1.0, cmu, out=np.ones_like(inv_cmu), where=cmu > 0), 1.0)
        rho = np.where(cmu > 0, rho, 1.0)
        base = base + rho * _f64(params.linear_latency_slope_s)
        n = base.shape
        return base, width, np.zeros(n), np.full(n, _DETERMINISTIC_RATE), np.full(n, _DETERMINISTIC_RATE)
    mu_b = np.broadcast_to(mu, base.shape)
    a = lam_served_rps / mu_b
    sat = saturated | (a >= c)
    wait_prob = np.where(sat, 0.0, erlang_c_unchecked(np.where(sat, 1.0, c), np.where(sat, 0.0, a)))
    wait_rate = np.where(sat, mu_b, cmu - lam_served_rps)
    return base, width, wait_prob, wait_rate, mu_b.copy()


def _cpu_utilization(params: ServiceParams, ready: np.ndarray, served_rps: np.ndarray) -> np.ndarray:
    """Mean CPU usage over ready pods divided by the CPU request (NaN with no ready pod)."""
    r = ready.astype(np.float64)
    per_pod_rps = np.divide(served_rps, r, out=np.zeros_like(r), where=r > 0)
    usage = np.minimum(
        _f64(params.cpu_idle_cores) + per_pod_rps * _f64(params.cpu_per_request_core_s),
        _f64(params.cpu_limit_cores),
    )
    return np.where(r > 0, usage / params.spec.cpu_request_cores, np.nan)


def _clamp_desired(params: ServiceParams, desired: np.ndarray) -> np.ndarray:
    d = np.asarray(desired)
    if d.dtype.kind == "f":
        if np.isnan(d.sum()):
            raise ValueError("desired_replicas contains NaN")
        d = np.rint(d)
    return np.clip(d, params.spec.min_replicas, params.spec.max_replicas).astype(np.int64)


# ----------------------------------------------------------------------------------- public
def init_state(
    params: ServiceParams,
    num_envs: int,
    initial_replicas: np.ndarray | int,
    rng: np.random.Generator | None = None,
    initial_rate_rps: np.ndarray | float = 0.0,
) -> SimState:
    """A warm start: ``initial_replicas`` ready (clamped to [min, max]), nothing pending, no
    backlog, and lag buffers filled with the steady state at ``initial_rate_rps``."""
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    pnum = params.num_envs
    if pnum is not None and pnum != num_envs:
        raise ValueError(f"params have per-env arrays of length {pnum}, num_envs is {num_envs}")
    horizon = params.max_startup_steps() + 1
    lag = params.metric_lag_steps + 1
    state = SimState(
        ready=np.zeros(num_envs, dtype=np.int64),
        pending=np.zeros((horizon, num_envs), dtype=np.int64),
        backlog=np.zeros(num_envs),
        desired=np.zeros(num_envs, dtype=np.int64),
        step_index=0,
        elapsed_steps=np.zeros(num_envs, dtype=np.int64),
        time_s=np.zeros(num_envs),
        lag_rate_rps=np.zeros((num_envs, lag)),
        lag_cpu_utilization=np.zeros((num_envs, lag)),
        lag_latency_p95_s=np.zeros((num_envs, lag)),
        lag_backlog_requests=np.zeros((num_envs, lag)),
        lag_dropped_rps=np.zeros((num_envs, lag)),
    )
    reset_state(params, state, None, initial_replicas, rng, initial_rate_rps)
    return state


def reset_state(
    params: ServiceParams,
    state: SimState,
    mask: np.ndarray | None,
    initial_replicas: np.ndarray | int,
    rng: np.random.Generator | None = None,
    initial_rate_rps: np.ndarray | float = 0.0,
) -> SimState:
    """Warm-start the masked environments again (all when ``mask`` is None), in place.
    ``initial_replicas``/``initial_rate_rps`` are scalars or full ``(num_envs,)`` arrays."""
    del rng  # the warm start is deterministic; kept for a uniform signature
    n = state.num_envs
    sel = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if sel.shape != (n,):
        raise ValueError(f"reset mask must have shape ({n},), got {sel.shape}")
    replicas = _clamp_desired(params, np.broadcast_to(np.asarray(initial_replicas), (n,)))
    rate = np.broadcast_to(_f64(initial_rate_rps), (n,))
    if np.any(~np.isfinite(rate)) or np.any(rate < 0):
        raise ValueError("initial_rate_rps must be finite and >= 0")
    state.ready[sel] = replicas[sel]
    state.desired[sel] = replicas[sel]
    state.pending[:, sel] = 0
    state.backlog[sel] = 0.0
    state.elapsed_steps[sel] = 0
    state.time_s[sel] = 0.0
    # steady-state metrics at the initial rate (served = offered if the pods can take it)
    mu = _f64(params.mu_rps)
    served = np.minimum(rate, replicas * mu)
    zeros = np.zeros(n)
    base, width, wp, wr, sr = _latency_params(params, replicas, served, zeros, zeros, rate >= replicas * mu)
    p95 = latency_quantile_fast(0.95, base, width, wp, wr, sr, iterations=P95_ITERATIONS)
    cpu = _cpu_utilization(params, replicas, served)
    for buf, value in (
        (state.lag_rate_rps, rate),
        (state.lag_cpu_utilization, cpu),
        (state.lag_latency_p95_s, p95),
        (state.lag_backlog_requests, zeros),
        (state.lag_dropped_rps, np.maximum(rate - served, 0.0)),
    ):
        buf[sel] = np.asarray(value)[sel, None]
    return state


def step(
    params: ServiceParams,
    state: SimState,
    arrival_rate_rps: np.ndarray,
    desired_replicas: np.ndarray,
    rng: np.random.Generator,
    *,
    compute_p95: bool = True,
) -> tuple[SimState, StepMetrics]:
    """Advance every environment by one step (see the module docstring for the order).

    ``arrival_rate_rps``: the offered rate (req/s) during this step; ``desired_replicas``:
    the scaler's decision (clamped here). ``compute_p95=False`` skips the per-step p95
    (NaN in the metrics and signals) when nothing reads it.
    """
    spec = params.spec
    n = state.num_envs
    dt = float(spec.step_s)
    lam = _f64(arrival_rate_rps)
    if lam.shape != (n,):
        lam = np.broadcast_to(lam, (n,))
    if not (np.isfinite(lam.sum()) and lam.min() >= 0):
        raise ValueError("arrival_rate_rps must be finite and >= 0")
    desired = _clamp_desired(params, desired_replicas)
    if desired.shape != (n,):
        desired = np.broadcast_to(desired, (n,)).copy()

    ready = state.ready
    pending = state.pending
    horizon = pending.shape[0]
    t = state.step_index

    # 1. apply the decision (full-vector ops over the few ring slots; no fancy indexing)
    pend_total = pending.sum(axis=0)
    add = desired - (ready + pend_total)
    if np.any(add > 0):
        up = np.maximum(add, 0)
        lo_s = _f64(params.startup_delay_min_s)
        hi_s = _f64(params.startup_delay_max_s)
        if np.any(hi_s > lo_s):
            delay_s = lo_s + (hi_s - lo_s) * rng.random(n)
        else:
            delay_s = np.broadcast_to(lo_s, (n,))
        delay_steps = np.minimum(np.ceil(delay_s / dt - 1e-9), horizon - 1)
        ready += np.where(delay_steps <= 0, up, 0)
        for d in range(1, horizon):
            pending[(t + d) % horizon] += np.where(delay_steps == d, up, 0)
    if np.any(add < 0):
        remove = np.maximum(-add, 0)
        for j in range(horizon - 1, 0, -1):  # newest (latest-ready) pending pods first
            slot = pending[(t + j) % horizon]
            take = np.minimum(slot, remove)
            slot -= take
            remove -= take
        ready -= remove
    state.desired[:] = desired
    pend_total = pending.sum(axis=0)

    # 2. arrivals, service, queue
    mean_arrivals = lam * dt
    offered = (
        rng.poisson(mean_arrivals).astype(np.float64) if params.poisson_arrivals else mean_arrivals.copy()
    )
    mu = _f64(params.mu_rps)
    ready_f = ready.astype(np.float64)
    cmu = ready_f * mu
    capacity = cmu * dt
    backlog_start = state.backlog.copy()
    available = backlog_start + offered
    served = np.minimum(available, capacity)
    rest = available - served
    with np.errstate(invalid="ignore"):
        timeout_cap = _f64(params.request_timeout_s) * cmu  # inf·0 = NaN -> fmin ignores it
    bound = np.fmin(_f64(params.queue_bound_requests), timeout_cap)
    backlog_end = np.minimum(rest, bound)
    dropped = rest - backlog_end
    state.backlog[:] = backlog_end

    # 3. latency
    served_rps = served / dt
    saturated = (backlog_start > 0) | (backlog_end > 0) | (dropped > 0)
    base, width, wait_prob, wait_rate, service_rate = _latency_params(
        params, ready, served_rps, backlog_start, backlog_end, saturated
    )
    surv_slo, _ = _latency_surv_dens(spec.slo_latency_s - base, width, wait_prob, wait_rate, service_rate)
    violating = served * surv_slo
    latency_mean = base + 0.5 * width + wait_prob / wait_rate + 1.0 / service_rate
    if compute_p95:
        p95 = latency_quantile_fast(
            0.95, base, width, wait_prob, wait_rate, service_rate, iterations=P95_ITERATIONS
        )
    else:
        p95 = np.full(n, np.nan)

    # cost: every pod that exists (ready or pending) is billed for the step
    pods = (ready + pend_total).astype(np.float64)
    pod_seconds = pods * dt
    cpu_core_seconds = pod_seconds * spec.cpu_request_cores
    memory_gib_seconds = pod_seconds * spec.memory_request_gib
    cost = (
        cpu_core_seconds * params.price_cpu_core_hour + memory_gib_seconds * params.price_memory_gib_hour
    ) / 3600.0
    cpu_util = _cpu_utilization(params, ready, served_rps)

    metrics = StepMetrics(
        arrival_rate_rps=np.array(lam, dtype=np.float64),
        offered=offered,
        served=served,
        dropped=dropped,
        backlog_start=backlog_start,
        backlog=backlog_end.copy(),
        violating=violating,
        ready=ready.copy(),
        pending=pend_total,
        desired=desired.copy(),
        pod_seconds=pod_seconds,
        cpu_core_seconds=cpu_core_seconds,
        memory_gib_seconds=memory_gib_seconds,
        cost_usd=cost,
        cpu_utilization=cpu_util,
        latency_mean_s=latency_mean,
        latency_p95_s=p95,
        lat_base_s=base,
        lat_width_s=width,
        lat_wait_prob=wait_prob,
        lat_wait_rate=wait_rate,
        lat_service_rate=service_rate,
    )

    # 4. metric lag buffers, then pods due next step become ready
    slot = t % state.lag_rate_rps.shape[1]
    state.lag_rate_rps[:, slot] = offered / dt
    state.lag_cpu_utilization[:, slot] = cpu_util
    state.lag_latency_p95_s[:, slot] = p95
    state.lag_backlog_requests[:, slot] = backlog_end
    state.lag_dropped_rps[:, slot] = dropped / dt
    due = (t + 1) % horizon
    ready += pending[due]
    pending[due] = 0
    state.step_index = t + 1
    state.elapsed_steps += 1
    state.time_s += dt
    return state, metrics


def signals(params: ServiceParams, state: SimState) -> ScalingSignals:
    """What a scaler sees now: replica counts as the API server reports them (current), and
    metrics ``metric_lag_steps`` periods old (a rate window / scrape delay). The rate is the
    measured arrival rate of that period; CPU utilisation is usage over request."""
    del params  # the lag is already the buffer length
    slot = state.step_index % state.lag_rate_rps.shape[1]
    return ScalingSignals(
        time_s=state.time_s.copy(),
        desired_replicas=state.desired.astype(np.float64),
        ready_replicas=state.ready.astype(np.float64),
        pending_replicas=state.pending.sum(axis=0).astype(np.float64),
        request_rate_rps=state.lag_rate_rps[:, slot].copy(),
        cpu_utilization=state.lag_cpu_utilization[:, slot].copy(),
        latency_p95_s=state.lag_latency_p95_s[:, slot].copy(),
        backlog_requests=state.lag_backlog_requests[:, slot].copy(),
        dropped_rps=state.lag_dropped_rps[:, slot].copy(),
    )


def latency_survival(
    x_s: np.ndarray | float, metrics: StepMetrics, params: ServiceParams | None = None
) -> np.ndarray:
    """P(latency > x) of each step's served requests (same shape as the metrics' arrays)."""
    del params  # the law's parameters are in the metrics
    surv, _ = _latency_surv_dens(
        _f64(x_s) - metrics.lat_base_s,
        metrics.lat_width_s,
        metrics.lat_wait_prob,
        metrics.lat_wait_rate,
        metrics.lat_service_rate,
    )
    return surv


def latency_mixture_survival(x_s: float, metrics: StepMetrics) -> float:
    """P(latency > x) over every served request of a run (all entries of ``metrics``, any
    shape), i.e. the served-weighted mixture of the per-step laws."""
    w = np.asarray(metrics.served, dtype=np.float64).ravel()
    total = w.sum()
    if total <= 0:
        return float("nan")
    return float(np.dot(w, latency_survival(x_s, metrics).ravel()) / total)


def latency_mixture_quantile(q: float | Sequence[float], metrics: StepMetrics) -> np.ndarray:
    """Run-level latency quantiles (e.g. p50/p95/p99) of all served requests: the ``q``
    quantiles of the served-weighted mixture of per-step laws, by bisection to ~1e-9 s.
    NaN when nothing was served."""
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any((qs <= 0) | (qs >= 1)):
        raise ValueError("quantile levels must be in (0, 1)")
    w = np.asarray(metrics.served, dtype=np.float64).ravel()
    keep = w > 0
    if not np.any(keep):
        return np.full(qs.shape, np.nan)
    flat = {
        name: np.asarray(getattr(metrics, name), dtype=np.float64).ravel()[keep]
        for name in StepMetrics.field_names()
    }
    w = w[keep] / w[keep].sum()
    base, width, wp, wr, sr = (
        flat[k] for k in ("lat_base_s", "lat_width_s", "lat_wait_prob", "lat_wait_rate", "lat_service_rate")
    )
    out = np.empty(qs.shape)
    for i, level in enumerate(qs):
        p = 1.0 - level
        lo = float(base.min())
        hi = float(latency_quantile_params(1.0 - p / 2.0, base, width, wp, wr, sr).max())
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            s, _ = _latency_surv_dens(mid - base, width, wp, wr, sr)
            if float(np.dot(w, s)) > p:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-12 * max(hi, 1e-9):
                break
        out[i] = 0.5 * (lo + hi)
    return out
