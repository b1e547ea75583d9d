"""The batched cluster simulator (DESIGN.md §3): one call advances ``num_envs`` independent
services by one step of ``spec.step_s`` seconds, with no Python loop over environments.

Why one module of ~800 lines: the state, the step and its metrics, the warm start and the
signals read and write the same in-place buffers and the same private queueing kernels in
one fixed order (below); split apart, each piece would export its internals to the others.
The variant seam (vertical, pools) is :mod:`rlscale.sim.variants`, the loop :mod:`rlscale.sim.loop`.

Order within a step ``t`` (the decision was taken on the signals after step ``t − 1``):

1. the desired count is clamped to [min, max]; scale-up creates pending pods that cost money
   at once and serve from step ``t + d`` (``d`` = the pod's own start-up delay, drawn
   independently per pod, rounded up to whole steps; ``d = 0`` serves at once); scale-down
   removes pending pods first (latest-due first), then the ready pods that became ready last,
   as a ReplicaSet does (``sim.pods``); removed pods stop serving at once;
2. arrivals ``A ~ Poisson(lambda·dt)`` (or ``lambda·dt``), capacity ``C = ready·mu·dt``;
   served ``= min(B + A, C)``; what is left queues up to the smaller of the queue bound and
   what the ready pods can drain within the request timeout, the rest is dropped, so
   ``served + dropped + backlog_end = backlog_start + offered``;
3. latency: ``base + U + T`` per request, ``T`` the M/M/c sojourn (Erlang C waiting +
   exponential service, at the step's arrival *rate* where it is below capacity, not at the
   drawn count: M/M/c already holds the Poisson noise) when no backlog, else exponential service after a fluid drain delay
   ``U`` uniform between ``B_start/(c·mu)`` and ``B_end/(c·mu)`` (waiting in line behind the
   backlog replaces the M/M/c wait). ``violating`` is ``served · P(latency > SLO)``;
4. metrics go into a lag ring buffer; pods due at ``t + 1`` become ready.

The state is updated **in place** and returned, so the hot loop allocates little: a step's
temporaries live in per-thread scratch rows (``queueing._scratch``) and its metrics are the
rows of one fresh block per step (fresh ~n·8-byte arrays each step would be returned to the
OS and faulted back in by glibc malloc: a third of the step's CPU time at 16384 envs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from rlscale.core.signals import PodView, ScalingSignals
from rlscale.core.time_steps import seconds_to_steps
from rlscale.sim import pods
from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import (
    _SERIES_EPS,
    _drain_survival,
    _latency_quantile_into,
    _latency_surv_dens,
    _scratch,
    erlang_c_unchecked,
    latency_quantile_fast,
    latency_quantile_params,
)

#: Service rate used for the deterministic "linear" latency model (seed 000): an exponential
#: this fast is a point mass for every practical purpose.
_DETERMINISTIC_RATE = 1.0e12
#: Halley iterations for the per-step p95 (see ``queueing._sojourn_quantile``): 2 give a
#: relative error below 3e-8 for 99.9 % of M/M/c cases and at most ~1.4e-5 where the load is
#: exactly one server short of c (a = c − 1, the waiting and service rates equal; c <= 50 on
#: ``web``), plenty for a scaler's
#: signal; drain-width rows are exact in closed form, and run-level quantiles are exact
#: (``latency_mixture_quantile``).
P95_ITERATIONS = 2
#: Per-step quantile level of the ``latency_p95_s`` metric and signal.
P95_LEVEL = 0.95


@dataclass(eq=False)
class SimState:
    """Struct of arrays with a leading ``num_envs`` axis (mutated in place by :func:`step`).

    ``pods`` (``(n, max_replicas)``) holds every pod's start and ready step (``sim.pods``);
    ``ready`` counts the pods that serve in step ``step_index``. The lag buffers hold the last
    ``max(metric_lag_steps) + 1`` periods' metrics, oldest at ``step_index % (lag + 1)``.
    """

    ready: np.ndarray  # int64 (n,)
    pods: np.ndarray  # int64 (n, max_replicas) sorted pod keys, see sim.pods
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
    lag_slo_violation_fraction: np.ndarray  # (violating + dropped) / offered of the period

    @property
    def num_envs(self) -> int:
        return int(self.ready.shape[0])

    @property
    def pending_total(self) -> np.ndarray:
        """Pods created but not ready yet (every desired pod exists from its decision on)."""
        return self.desired - self.ready

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
    in the step; from :func:`step`, the float fields are rows of one block and the int
    fields of another, so keeping one field alive keeps its block). ``violating`` counts served requests slower than the SLO (dropped ones are
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

    def select_rows(self, rows: slice) -> StepMetrics:
        """The steps ``rows`` (axis 0) of stacked metrics; fields without them stay whole."""
        return StepMetrics(
            **{
                name: v[rows] if np.ndim(v := getattr(self, name)) and np.shape(v)[0] > 1 else v
                for name in self.field_names()
            }
        )

    @property
    def slo_failures(self) -> np.ndarray:
        """Requests that failed the SLO this step: slow served ones plus dropped ones."""
        return self.violating + self.dropped


# ------------------------------------------------------------------------------------ helpers
def _f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


#: StepMetrics' float fields: one ``(19, n)`` block per step holds them (one ~n·150-byte
#: allocation instead of 19 that glibc would fault in page by page); the unpacking in
#: :func:`step` fixes their row order and checks the count.
_FLOAT_METRIC_ROWS = 19
#: Scratch rows a step uses (``queueing._scratch``; temporaries never escape a call): 0-4 for
#: the decision and the queue, 3-6 for the latency law, 7-17 for the p95 and SLO survival.
_WORK_ROWS = 18


def _latency_params(
    params: ServiceParams,
    mu: np.ndarray,
    ready_f: np.ndarray,
    lam_served_rps: np.ndarray,
    backlog_start: np.ndarray,
    backlog_end: np.ndarray,
    saturated: np.ndarray,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
    arrival_rps: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(base, width, wait_prob, wait_rate, service_rate) of each env's latency law this step,
    written into the five rows of ``out`` (``(5, n)``; allocated when None). ``mu``: per-env
    service rate ``(n,)``; ``saturated``: envs with a backlog or drops, whose wait is the
    drain delay rather than M/M/c's. ``work``: optional ``(4, n)`` scratch.

    ``arrival_rps``: the step's arrival *rate*; where it is below capacity the M/M/c law is
    conditioned on it rather than on the drawn count (``lam_served_rps``). M/M/c already holds
    the Poisson arrivals' noise: taking the law at the drawn count as well counted that noise
    twice, which biased the violation rate up near saturation (+60 % at c = 4, rho = 0.95 on
    ``web``; docs/simulator.md). Where the rate is at or above capacity the drawn count
    decides (a step that happened not to overflow waits as M/M/c at that count)."""
    n = ready_f.shape[0]
    if out is None:
        out = np.empty((5, n))
    if work is None:
        work = np.empty((4, n))
    base, width, wait_prob, wait_rate, service_rate = out
    cmu, inv_cmu, a, c1 = work
    np.multiply(ready_f, mu, out=cmu)
    has_pods = cmu > 0
    inv_cmu[:] = 0.0
    np.divide(1.0, cmu, out=inv_cmu, where=has_pods)
    d0 = np.multiply(backlog_start, inv_cmu, out=width)
    d1 = np.multiply(backlog_end, inv_cmu, out=inv_cmu)
    np.minimum(d0, d1, out=base)
    base += params.base_latency_s
    np.subtract(d1, d0, out=width)
    np.abs(width, out=width)
    if params.latency_model == "linear":
        a.fill(1.0)  # rho, 1 without pods
        np.divide(lam_served_rps, cmu, out=a, where=has_pods)
        np.minimum(a, 1.0, out=a)
        a *= params.linear_latency_slope_s
        base += a
        wait_prob.fill(0.0)
        wait_rate.fill(_DETERMINISTIC_RATE)
        service_rate.fill(_DETERMINISTIC_RATE)
        return base, width, wait_prob, wait_rate, service_rate
    np.divide(lam_served_rps, mu, out=a)
    if arrival_rps is not None:
        rate_a = np.divide(arrival_rps, mu, out=inv_cmu)
        np.copyto(a, rate_a, where=rate_a < ready_f)
    unsat = a < ready_f
    unsat &= ~saturated
    np.multiply(a, mu, out=wait_rate)
    np.subtract(cmu, wait_rate, out=wait_rate)  # c·mu − lambda
    a *= unsat  # saturated rows: a = 0 -> Erlang C = 0
    np.maximum(ready_f, 1.0, out=c1)
    erlang_c_unchecked(c1, a, out=wait_prob)
    np.copyto(wait_rate, mu, where=~unsat)
    np.copyto(service_rate, mu)
    return base, width, wait_prob, wait_rate, service_rate


def _slo_survival(
    slo_s: float,
    base: np.ndarray,
    wait_prob: np.ndarray,
    wait_rate: np.ndarray,
    mu: np.ndarray,
    out: np.ndarray,
    work: np.ndarray,
) -> np.ndarray:
    """P(T > slo − base) of the sojourn (``T = W + S``), 1 where ``base >= slo``, into ``out``:
    the formula of ``queueing.sojourn_survival`` in place, with its series only on the rows
    that need it and no ``where`` over the whole batch. It takes ``h·wait_prob·mu`` in
    another order, so ``violating`` matches :func:`latency_survival` to rounding, not bit for
    bit (sharing one implementation would move it by up to ~1e-12 requests, or slow the
    step). ``work``: ``(4, n)`` scratch."""
    zp, neg_zp, e_mu, d = work
    np.subtract(slo_s, base, out=zp)
    np.maximum(zp, 0.0, out=zp)
    np.negative(zp, out=neg_zp)
    np.multiply(mu, neg_zp, out=e_mu)
    np.exp(e_mu, out=e_mu)
    h = np.multiply(wait_rate, neg_zp, out=out)
    np.exp(h, out=h)
    np.subtract(e_mu, h, out=h)
    np.subtract(wait_rate, mu, out=d)
    np.divide(h, d, out=h, where=d != 0)  # d = 0: wait_rate = mu, so h = 0 already
    dz = np.multiply(d, zp, out=d)
    near = np.abs(dz, out=neg_zp) < _SERIES_EPS
    near &= wait_prob > 0
    if near.any():
        rows = np.flatnonzero(near)
        x = dz[rows]
        h[rows] = e_mu[rows] * zp[rows] * (1.0 - 0.5 * x + x * x / 6.0)
    h *= wait_prob
    h *= mu
    h += e_mu
    return np.clip(h, 0.0, 1.0, out=h)


def _p95_and_slo_survival(
    slo_s: float,
    base: np.ndarray,
    width: np.ndarray,
    wait_prob: np.ndarray,
    wait_rate: np.ndarray,
    mu: np.ndarray,
    compute_p95: bool,
    p95: np.ndarray,
    surv: np.ndarray,
    work: np.ndarray,
) -> None:
    """Per-step p95 (NaN when not computed; ``queueing._latency_quantile_into``, as
    :func:`~rlscale.sim.queueing.latency_quantile_fast` computes it) and P(latency > SLO) into
    ``p95``/``surv``: the sojourn's survival over the whole batch, then the drain-width rows'
    (``U(0, width) + Exp(mu)``) on their compressed indices only. ``work``: ``(11, n)``."""
    _slo_survival(slo_s, base, wait_prob, wait_rate, mu, surv, work[:4])
    if compute_p95:
        _latency_quantile_into(
            P95_LEVEL, base, width, wait_prob, wait_rate, mu, P95_ITERATIONS, out=p95, work=work
        )
    else:
        p95.fill(np.nan)
    has_width = width > 0
    if has_width.any():
        rows = np.flatnonzero(has_width)
        surv[rows] = _drain_survival(slo_s - base[rows], width[rows], mu[rows])


def _cpu_utilization(
    params: ServiceParams, ready_f: np.ndarray, served_rps: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Mean CPU usage over ready pods divided by the CPU request (NaN with no ready pod)."""
    usage = np.zeros(ready_f.shape[0]) if out is None else out
    usage.fill(0.0)
    has_pods = ready_f > 0
    np.divide(served_rps, ready_f, out=usage, where=has_pods)  # req/s per pod
    usage *= params.cpu_per_request_core_s
    usage += params.cpu_idle_cores
    np.minimum(usage, params.cpu_limit_cores, out=usage)
    usage *= 1.0 / params.spec.cpu_request_cores
    np.copyto(usage, np.nan, where=~has_pods)
    return usage


def _clamp_desired(
    params: ServiceParams, desired: object, out: np.ndarray, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Desired replicas broadcast to ``out``'s shape, rounded (half to even) and clamped to
    [min, max] into the int64 ``out`` (float input is rounded in ``scratch`` when given)."""
    d = np.asarray(desired)
    if d.shape != out.shape:
        d = np.broadcast_to(d, out.shape)
    lo, hi = params.spec.min_replicas, params.spec.max_replicas
    if d.dtype.kind == "f":
        if np.isnan(d.sum()):
            raise ValueError("desired_replicas contains NaN")
        d = np.rint(d, out=scratch)
        np.clip(d, lo, hi, out=d)  # before the cast, so inf or 1e30 cannot wrap around
        np.copyto(out, d, casting="unsafe")
        return out
    np.copyto(out, d, casting="unsafe")
    return np.clip(out, lo, hi, out=out)


#: splitmix64's constants (Steele, Lea & Flood, "Fast splittable pseudorandom number
#: generators", OOPSLA 2014; the finaliser of Java's SplittableRandom).
_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_M2 = np.uint64(0x94D049BB133111EB)


def counter_uniforms(keys: np.ndarray, step: int, width: int) -> np.ndarray:
    """Uniforms in [0, 1), ``(len(keys), width)``: entry ``(i, j)`` depends only on
    ``(keys[i], step, j)`` (splitmix64 of the three), a counter-based stream per key that no
    other env, batch size or draw order can shift."""
    with np.errstate(over="ignore"):
        x = np.asarray(keys, dtype=np.uint64)[:, None] + _SPLITMIX_GAMMA * np.uint64(step + 1)
        x = x + _SPLITMIX_M2 * (np.arange(1, width + 1, dtype=np.uint64)[None, :])
        x ^= x >> np.uint64(30)
        x *= _SPLITMIX_M1
        x ^= x >> np.uint64(27)
        x *= _SPLITMIX_M2
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _startup_delay_steps(
    params: ServiceParams,
    rows: np.ndarray,
    num_envs: int,
    width: int,
    rng: np.random.Generator,
    step: int = 0,
    keys: np.ndarray | None = None,
) -> np.ndarray:
    """Start-up delays in whole steps for up to ``width`` new pods in each env of ``rows``
    (``(len(rows), width)``): one independent uniform draw per pod (from ``rng``, or from
    :func:`counter_uniforms` of the env's key when ``keys`` is given), rounded up (a pod serves
    from the first whole step it is ready; :func:`~rlscale.core.time_steps.seconds_to_steps`)."""
    lo = np.broadcast_to(_f64(params.startup_delay_min_s), (num_envs,))[rows, None]
    hi = np.broadcast_to(_f64(params.startup_delay_max_s), (num_envs,))[rows, None]
    if np.any(hi > lo):
        u = rng.random((rows.size, width)) if keys is None else counter_uniforms(keys[rows], step, width)
        delay = u * (hi - lo) + lo
    else:
        delay = np.broadcast_to(lo, (rows.size, width))
    return np.maximum(seconds_to_steps(delay, params.step_s), 0)


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
    lag = params.max_metric_lag_steps() + 1
    state = SimState(
        ready=np.zeros(num_envs, dtype=np.int64),
        pods=np.full((num_envs, params.spec.max_replicas), pods.EMPTY, dtype=np.int64),
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
        lag_slo_violation_fraction=np.zeros((num_envs, lag)),
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
    replicas = _clamp_desired(params, initial_replicas, out=np.empty(n, dtype=np.int64))
    rate = np.broadcast_to(_f64(initial_rate_rps), (n,))
    if np.any(~np.isfinite(rate)) or np.any(rate < 0):
        raise ValueError("initial_rate_rps must be finite and >= 0")
    state.ready[sel] = replicas[sel]
    state.desired[sel] = replicas[sel]
    state.pods[sel] = pods.warm_keys(n, state.pods.shape[1], replicas)[sel]
    state.backlog[sel] = 0.0
    state.elapsed_steps[sel] = 0
    state.time_s[sel] = 0.0
    # steady-state metrics at the initial rate (served = offered if the pods can take it)
    mu = np.broadcast_to(_f64(params.mu_rps), (n,))
    ready_f = replicas.astype(np.float64)
    served = np.minimum(rate, ready_f * mu)
    zeros = np.zeros(n)
    base, width, wp, wr, sr = _latency_params(params, mu, ready_f, served, zeros, zeros, rate >= ready_f * mu)
    p95 = latency_quantile_fast(P95_LEVEL, base, width, wp, wr, sr, iterations=P95_ITERATIONS)
    cpu = _cpu_utilization(params, ready_f, served)
    for buf, value in (
        (state.lag_rate_rps, rate),
        (state.lag_cpu_utilization, cpu),
        (state.lag_latency_p95_s, p95),
        (state.lag_backlog_requests, zeros),
        (state.lag_dropped_rps, np.maximum(rate - served, 0.0)),
        (state.lag_slo_violation_fraction, zeros),
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
    arrival_count: np.ndarray | None = None,
    startup_keys: np.ndarray | None = None,
) -> tuple[SimState, StepMetrics]:
    """Advance every environment by one step (see the module docstring for the order).

    ``arrival_rate_rps``: the offered rate (req/s) during this step; ``desired_replicas``:
    the scaler's decision (clamped here). ``compute_p95=False`` skips the per-step p95
    (NaN in the metrics and signals) when nothing reads it. ``arrival_count``: the step's
    request counts drawn beforehand (common random numbers across policies), used instead of
    a draw; the latency law still takes the rate. ``startup_keys``: a
    ``uint64`` key per env; each new pod's start-up delay then comes from
    :func:`counter_uniforms` of (key, step, pod) instead of ``rng``, so an env's draws never
    depend on what else is in the batch (the evaluation's common random numbers).
    """
    spec = params.spec
    n = state.num_envs
    dt = float(spec.step_s)
    lam = _f64(arrival_rate_rps)
    if lam.shape != (n,):
        lam = np.broadcast_to(lam, (n,))
    if not (np.isfinite(lam.sum()) and lam.min() >= 0):
        raise ValueError("arrival_rate_rps must be finite and >= 0")
    # the step's results: one float block and one int block (rows become the metrics)
    block = np.empty((_FLOAT_METRIC_ROWS, n))
    (
        arrival_rate,
        offered,
        served,
        dropped,
        backlog_start,
        backlog_end,
        violating,
        pod_seconds,
        cpu_core_seconds,
        memory_gib_seconds,
        cost,
        cpu_util,
        latency_mean,
        p95,
        base,
        width,
        wait_prob,
        wait_rate,
        service_rate,
    ) = block
    int_block = np.empty((3, n), dtype=np.int64)
    m_ready, m_pending, desired = int_block
    work = _scratch("sim_step", _WORK_ROWS, n)
    _clamp_desired(params, desired_replicas, out=desired, scratch=work[0])
    add = _scratch("sim_step_int", 1, n, np.int64)[0]

    ready = state.ready
    t = state.step_index

    # 1. apply the decision; every pod exists from its decision on, so the pod count before it
    #    is the previous desired count
    np.subtract(desired, state.desired, out=add)
    if add.max() > 0:
        rows = np.flatnonzero(add > 0)
        new_count = add[rows]
        delay_steps = _startup_delay_steps(params, rows, n, int(new_count.max()), rng, t, startup_keys)
        pods.add(state.pods, rows, pods.key(t + delay_steps, t), new_count, state.desired[rows])
    if add.min() < 0:
        pods.remove_last(state.pods, np.maximum(-add, 0), state.desired)
    if add.any():
        ready[:] = pods.count_ready(state.pods, t)
    state.desired[:] = desired
    np.copyto(m_ready, ready)
    np.subtract(desired, ready, out=m_pending)

    # 2. arrivals, service, queue
    np.copyto(arrival_rate, lam)
    if arrival_count is not None:
        np.copyto(offered, np.broadcast_to(_f64(arrival_count), (n,)))
        if not (np.isfinite(offered.sum()) and offered.min() >= 0):
            raise ValueError("arrival_count must be finite and >= 0")
    else:
        np.multiply(lam, dt, out=offered)  # the mean count
        if params.poisson_arrivals:
            offered[:] = rng.poisson(offered)
    mu = work[0]
    np.copyto(mu, params.mu_rps)
    ready_f = work[1]
    np.copyto(ready_f, ready)
    cmu = np.multiply(ready_f, mu, out=work[2])
    np.copyto(backlog_start, state.backlog)
    rest = np.add(backlog_start, offered, out=work[3])  # available
    np.multiply(cmu, dt, out=served)
    np.minimum(rest, served, out=served)
    rest -= served
    bound = work[4]
    with np.errstate(invalid="ignore"):
        np.multiply(params.request_timeout_s, cmu, out=bound)  # inf·0 = NaN -> fmin ignores it
    np.fmin(params.queue_bound_requests, bound, out=bound)
    np.minimum(rest, bound, out=backlog_end)
    np.subtract(rest, backlog_end, out=dropped)
    state.backlog[:] = backlog_end

    # 3. latency
    served_rps = np.multiply(served, 1.0 / dt, out=work[2])
    total = np.add(backlog_start, backlog_end, out=work[3])
    total += dropped
    saturated = total > 0
    _latency_params(
        params,
        mu,
        ready_f,
        served_rps,
        backlog_start,
        backlog_end,
        saturated,
        out=block[14:19],
        work=work[3:7],
        arrival_rps=lam,
    )
    _p95_and_slo_survival(
        spec.slo_latency_s,
        base,
        width,
        wait_prob,
        wait_rate,
        service_rate,
        compute_p95,
        p95,
        violating,
        work[7:18],
    )
    violating *= served
    np.multiply(width, 0.5, out=latency_mean)
    latency_mean += base
    tmp = np.divide(wait_prob, wait_rate, out=work[3])
    latency_mean += tmp
    latency_mean += np.divide(1.0, service_rate, out=tmp)

    # cost: every pod that exists (ready or pending) is billed for the step
    np.add(m_ready, m_pending, out=pod_seconds)
    pod_seconds *= dt
    np.multiply(pod_seconds, spec.cpu_request_cores, out=cpu_core_seconds)
    np.multiply(pod_seconds, spec.memory_request_gib, out=memory_gib_seconds)
    np.multiply(cpu_core_seconds, params.price_cpu_core_hour, out=cost)
    cost += np.multiply(memory_gib_seconds, params.price_memory_gib_hour, out=tmp)
    cost *= 1.0 / 3600.0
    _cpu_utilization(params, ready_f, served_rps, out=cpu_util)

    metrics = StepMetrics(
        arrival_rate_rps=arrival_rate,
        offered=offered,
        served=served,
        dropped=dropped,
        backlog_start=backlog_start,
        backlog=backlog_end,
        violating=violating,
        ready=m_ready,
        pending=m_pending,
        desired=desired,
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
    np.multiply(offered, 1.0 / dt, out=state.lag_rate_rps[:, slot])
    state.lag_cpu_utilization[:, slot] = cpu_util
    state.lag_latency_p95_s[:, slot] = p95
    state.lag_backlog_requests[:, slot] = backlog_end
    np.multiply(dropped, 1.0 / dt, out=state.lag_dropped_rps[:, slot])
    bad = np.add(violating, dropped, out=state.lag_slo_violation_fraction[:, slot])
    bad /= np.maximum(offered, 1e-9)  # nothing offered: nothing violated
    np.clip(bad, 0.0, 1.0, out=bad)
    if m_pending.any():
        ready[:] = pods.count_ready(state.pods, t + 1)
    state.step_index = t + 1
    state.elapsed_steps += 1
    state.time_s += dt
    return state, metrics


def signals(params: ServiceParams, state: SimState) -> ScalingSignals:
    """What a scaler sees now: replica counts as the API server reports them (current), and
    metrics ``metric_lag_steps`` periods old (a rate window / scrape delay; per env when the
    lag is an array). The rate is the measured arrival rate of that period; CPU utilisation
    is usage over request. ``pods`` lists the ready pods' start and readiness times and the
    CPU sample's time (:func:`pod_view`)."""
    slots = state.lag_rate_rps.shape[1]
    lag = np.asarray(params.metric_lag_steps)
    if np.max(lag) >= slots:
        raise ValueError(f"metric lag {int(np.max(lag))} exceeds the state's {slots}-slot lag buffer")
    # the last step wrote slot (step_index - 1) % slots; a lag of L reads L slots before it
    slot = (state.step_index - 1 - lag) % slots
    rows: slice | np.ndarray = slice(None) if lag.ndim == 0 else np.arange(state.num_envs)

    def lagged(buf: np.ndarray) -> np.ndarray:
        return np.array(buf[rows, slot])

    return ScalingSignals(
        time_s=state.time_s.copy(),
        desired_replicas=state.desired.astype(np.float64),
        ready_replicas=state.ready.astype(np.float64),
        pending_replicas=state.pending_total.astype(np.float64),
        request_rate_rps=lagged(state.lag_rate_rps),
        cpu_utilization=lagged(state.lag_cpu_utilization),
        latency_p95_s=lagged(state.lag_latency_p95_s),
        backlog_requests=lagged(state.lag_backlog_requests),
        dropped_rps=lagged(state.lag_dropped_rps),
        slo_violation_fraction=lagged(state.lag_slo_violation_fraction),
        pods=pod_view(params, state),
    )


def pod_view(params: ServiceParams, state: SimState) -> PodView:
    """The ready pods' start and readiness times on each env's clock (``time_s``), and the CPU
    sample's: the lagged period ``[time_s − (lag + 1)·dt, time_s − lag·dt]``, stamped at its
    end with a one-step window, as metrics-server stamps a sample."""
    dt = params.step_s
    keys = state.pods
    ready_step, start_step = pods.steps(keys)
    origin = (state.step_index - state.elapsed_steps)[:, None]  # global step at time_s = 0
    not_ready = keys >= pods.key(state.step_index + 1, 0)
    long_ago = keys == pods.LONG_AGO

    def times(step_of: np.ndarray) -> np.ndarray:
        # steps are far below 2**53, so the float difference is exact: (step − origin)·dt
        out = np.subtract(step_of, origin, dtype=np.float64)
        out *= dt
        np.putmask(out, not_ready, np.nan)  # putmask: ~2x faster than where + a masked store
        np.putmask(out, long_ago, -np.inf)
        return out

    return PodView(
        start_time_s=times(start_step),
        ready_time_s=times(ready_step),
        cpu_sample_time_s=state.time_s - np.asarray(params.metric_lag_steps) * dt,
        cpu_sample_window_s=np.full(state.num_envs, dt),
    )


def latency_survival(
    x_s: np.ndarray | float, metrics: StepMetrics, params: ServiceParams | None = None
) -> np.ndarray:
    """P(latency > x) of each step's served requests (same shape as the metrics' arrays)."""
    del params  # the law's parameters are in the metrics
    return latency_survival_density(x_s, metrics)[0]


def latency_survival_density(x_s: np.ndarray | float, metrics: StepMetrics) -> tuple[np.ndarray, np.ndarray]:
    """P(latency > x) and the latency density at ``x`` of each step's served requests (``x``
    broadcast against the metrics' arrays): Newton on a run's latency mixture needs both."""
    return _latency_surv_dens(
        _f64(x_s) - metrics.lat_base_s,
        metrics.lat_width_s,
        metrics.lat_wait_prob,
        metrics.lat_wait_rate,
        metrics.lat_service_rate,
    )


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
