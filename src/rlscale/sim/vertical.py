"""Replicas × CPU limit × JVM heap (seed 001), batched over ``num_envs`` services.

The core simulator gives every pod one service rate; here each service has a *pod template*
(CPU limit, heap) and a change of either rolls the pods like a Deployment's RollingUpdate:

- pods of the old template keep serving while new ones start (each new pod pays the
  start-up delay); per step the controller creates new pods while
  ``old + new <= desired + maxSurge`` and deletes old ready pods while
  ``ready_old + ready_new − 1 >= desired − maxUnavailable`` (Kubernetes defaults 25 % / 25 %,
  surge rounded up, unavailable down: ``DeploymentSpec.strategy.rollingUpdate``, k8s API
  reference). A second change mid-rollout makes every current pod "old" (the intermediate
  ReplicaSet is scaled down too); its not-yet-ready pods are deleted;
- capacity of a pod comes from the calibrated :class:`~rlscale.sim.teastore.TeaStoreModel`:
  linear in the CPU limit above the idle CPU, times the GC factor of its heap;
- a heap at or below the JVM live set kills the pod as it starts (OutOfMemoryError): it
  never becomes Ready and restarts after another start-up delay (CrashLoopBackOff without
  the back-off growth), so a rollout to a too-small heap stalls and capacity dips by up to
  maxUnavailable pods, as on a real cluster;
- ready pods are an M/M/c queue (``c`` = ready pods, rate = mean pod capacity), with the
  calibrated latency law ``base + wait_scale · W_mmc``; a fluid backlog and request timeout
  as in the core step; served + dropped + backlog is conserved;
- cost from *requests* (CPU request = limit, Guaranteed QoS as in the measured setup;
  memory request = the modelled working set at the heap), billed for every existing pod.

Replicas scale linearly here (independent servers): the gsa random walk over 1–9 replicas
shows near-linear scaling (9 × 500 m serves ~7× one pod), while the 1–3 replica Locust runs
suggest sublinear scaling; ``replica_exponent``/``backend_capacity_rps`` of the model are not
applied in the step (set ``backend_capacity_rps`` in :class:`VerticalParams` to cap it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.core.time_steps import seconds_to_steps
from rlscale.core.vertical import VerticalSignals
from rlscale.sim.params import KUBECOST_PRICE_CPU_CORE_HOUR, KUBECOST_PRICE_MEMORY_GIB_HOUR
from rlscale.sim.queueing import erlang_c, latency_quantile_params, latency_survival_params
from rlscale.sim.teastore import TEASTORE_MODEL, TeaStoreModel

#: Kubernetes RollingUpdate defaults (maxSurge 25 %, maxUnavailable 25 %).
DEFAULT_MAX_SURGE = 0.25
DEFAULT_MAX_UNAVAILABLE = 0.25


@dataclass(frozen=True)
class VerticalParams:
    """A vertically scalable service. Bounds are the seed's (replicas 1–9, CPU 100–900 m,
    heap 100–900 MB, steps of 100 m / 100 MB: reference/seed-systems.md §2.1)."""

    spec: ServiceSpec
    model: TeaStoreModel = TEASTORE_MODEL
    cpu_min_cores: float = 0.1
    cpu_max_cores: float = 0.9
    cpu_step_cores: float = 0.1
    heap_min_mb: float = 100.0
    heap_max_mb: float = 900.0
    heap_step_mb: float = 100.0
    startup_delay_s: float = 45.0
    max_surge: float = DEFAULT_MAX_SURGE
    max_unavailable: float = DEFAULT_MAX_UNAVAILABLE
    request_timeout_s: float = 30.0
    backend_capacity_rps: float = math.inf
    poisson_arrivals: bool = True
    price_cpu_core_hour: float = KUBECOST_PRICE_CPU_CORE_HOUR
    price_memory_gib_hour: float = KUBECOST_PRICE_MEMORY_GIB_HOUR
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        name = self.spec.name
        if not 0 < self.cpu_min_cores <= self.cpu_max_cores:
            raise ValueError(f"VerticalParams {name!r}: need 0 < cpu_min_cores <= cpu_max_cores")
        if not 0 < self.heap_min_mb <= self.heap_max_mb:
            raise ValueError(f"VerticalParams {name!r}: need 0 < heap_min_mb <= heap_max_mb")
        if self.cpu_step_cores <= 0 or self.heap_step_mb <= 0:
            raise ValueError(f"VerticalParams {name!r}: CPU and heap steps must be > 0")
        if self.startup_delay_s < 0 or self.request_timeout_s <= 0:
            raise ValueError(
                f"VerticalParams {name!r}: startup_delay_s must be >= 0 and request_timeout_s > 0"
            )
        if not (0 <= self.max_surge <= 1 and 0 <= self.max_unavailable <= 1):
            raise ValueError(
                f"VerticalParams {name!r}: max_surge and max_unavailable are fractions in [0, 1]"
            )

    @property
    def startup_steps(self) -> int:
        """Start-up delay in whole steps (a pod serves from the first whole step it is ready)."""
        return seconds_to_steps(self.startup_delay_s, self.spec.step_s)

    def clip_cpu(self, cpu_cores: np.ndarray) -> np.ndarray:
        return np.clip(
            np.round(np.asarray(cpu_cores, dtype=np.float64), 6), self.cpu_min_cores, self.cpu_max_cores
        )

    def clip_heap(self, heap_mb: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(heap_mb, dtype=np.float64), self.heap_min_mb, self.heap_max_mb)

    def clip_replicas(self, replicas: np.ndarray) -> np.ndarray:
        return np.clip(
            np.rint(np.asarray(replicas, dtype=np.float64)), self.spec.min_replicas, self.spec.max_replicas
        ).astype(np.int64)


def teastore_vertical(**overrides: object) -> VerticalParams:
    """The calibrated TeaStore webui with the seed's three knobs (SLO 0.2 s, 1–9 replicas,
    15 s steps, 45 s start-up: see :func:`rlscale.sim.teastore.teastore_preset`)."""
    spec = ServiceSpec(
        name="teastore-vertical",
        pod_capacity_rps=float(TEASTORE_MODEL.pod_capacity_rps(0.6, 700.0)),
        slo_latency_s=0.2,
        min_replicas=1,
        max_replicas=9,
        step_s=15.0,
        startup_delay_s=45.0,
        cpu_request_cores=0.6,
        memory_request_gib=1.0,
    )
    return VerticalParams(spec=spec, description=teastore_vertical.__doc__ or "", **overrides)  # type: ignore[arg-type]


@dataclass(eq=False)
class VerticalState:
    """Struct of arrays, leading axis ``num_envs``; mutated in place by :func:`step`.

    Template = (``cpu_cores``, ``heap_mb``); ``ready_new``/``pending`` pods run it, ``ready_old``
    pods run an earlier one (per-pod capacity ``old_capacity_rps``, CPU ``old_cpu_cores``,
    memory request ``old_memory_gib``). ``pending[:, k]`` pods become ready in ``k + 1`` steps.
    """

    desired: np.ndarray
    cpu_cores: np.ndarray
    heap_mb: np.ndarray
    ready_new: np.ndarray
    pending: np.ndarray
    ready_old: np.ndarray
    old_capacity_rps: np.ndarray
    old_cpu_cores: np.ndarray
    old_memory_gib: np.ndarray
    backlog: np.ndarray
    restarts: np.ndarray
    oom_kills: np.ndarray
    time_s: np.ndarray
    last_rate_rps: np.ndarray
    last_cpu_utilization: np.ndarray
    last_latency_p95_s: np.ndarray
    last_dropped_rps: np.ndarray

    @property
    def num_envs(self) -> int:
        return int(self.desired.shape[0])

    @property
    def ready(self) -> np.ndarray:
        return self.ready_new + self.ready_old

    @property
    def rolling(self) -> np.ndarray:
        """True while pods of an old template remain."""
        return self.ready_old > 0

    def copy(self) -> VerticalState:
        return VerticalState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


@dataclass(eq=False)
class VerticalMetrics:
    """One step's outcome per env (arrays ``(num_envs,)``; counts are requests in the step)."""

    offered: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    backlog: np.ndarray
    violating: np.ndarray
    ready: np.ndarray
    pending: np.ndarray
    desired: np.ndarray
    capacity_rps: np.ndarray
    cpu_cores: np.ndarray
    heap_mb: np.ndarray
    cpu_utilization: np.ndarray
    memory_used_gib: np.ndarray
    latency_mean_s: np.ndarray
    latency_p95_s: np.ndarray
    pod_seconds: np.ndarray
    cpu_core_seconds: np.ndarray
    memory_gib_seconds: np.ndarray
    cost_usd: np.ndarray
    oom_kills: np.ndarray
    rolling: np.ndarray

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @property
    def slo_failures(self) -> np.ndarray:
        return self.violating + self.dropped


def init_state(
    params: VerticalParams,
    num_envs: int,
    replicas: np.ndarray | int,
    cpu_cores: np.ndarray | float,
    heap_mb: np.ndarray | float,
) -> VerticalState:
    """All pods ready at the given configuration (clipped to the bounds), no backlog."""
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    n = num_envs
    z = np.zeros(n)
    zi = np.zeros(n, dtype=np.int64)
    state = VerticalState(
        desired=zi.copy(),
        cpu_cores=z.copy(),
        heap_mb=z.copy(),
        ready_new=zi.copy(),
        pending=np.zeros((n, max(params.startup_steps, 1)), dtype=np.int64),
        ready_old=zi.copy(),
        old_capacity_rps=z.copy(),
        old_cpu_cores=z.copy(),
        old_memory_gib=z.copy(),
        backlog=z.copy(),
        restarts=zi.copy(),
        oom_kills=zi.copy(),
        time_s=z.copy(),
        last_rate_rps=z.copy(),
        last_cpu_utilization=np.full(n, np.nan),
        last_latency_p95_s=np.full(n, np.nan),
        last_dropped_rps=z.copy(),
    )
    reset_state(params, state, None, replicas, cpu_cores, heap_mb)
    return state


def reset_state(
    params: VerticalParams,
    state: VerticalState,
    mask: np.ndarray | None,
    replicas: np.ndarray | int,
    cpu_cores: np.ndarray | float,
    heap_mb: np.ndarray | float,
) -> VerticalState:
    n = state.num_envs
    sel = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    r = params.clip_replicas(np.broadcast_to(np.asarray(replicas), (n,)))
    cpu = params.clip_cpu(np.broadcast_to(np.asarray(cpu_cores, dtype=np.float64), (n,)))
    heap = params.clip_heap(np.broadcast_to(np.asarray(heap_mb, dtype=np.float64), (n,)))
    healthy = ~params.model.oom(heap)
    state.desired[sel] = r[sel]
    state.cpu_cores[sel] = cpu[sel]
    state.heap_mb[sel] = heap[sel]
    state.ready_new[sel] = np.where(healthy, r, 0)[sel]
    state.pending[sel] = 0
    state.pending[sel & ~healthy, -1] = r[sel & ~healthy]
    for name in ("ready_old", "restarts", "oom_kills"):
        getattr(state, name)[sel] = 0
    for name in (
        "old_capacity_rps",
        "old_cpu_cores",
        "old_memory_gib",
        "backlog",
        "time_s",
        "last_rate_rps",
        "last_dropped_rps",
    ):
        getattr(state, name)[sel] = 0.0
    state.last_cpu_utilization[sel] = np.nan
    state.last_latency_p95_s[sel] = np.nan
    return state


def _pods_per_fraction(desired: np.ndarray, fraction: float, up: bool) -> np.ndarray:
    x = desired.astype(np.float64) * fraction
    return (np.ceil(x - 1e-9) if up else np.floor(x + 1e-9)).astype(np.int64)


def step(
    params: VerticalParams,
    state: VerticalState,
    arrival_rate_rps: np.ndarray | float,
    desired_replicas: np.ndarray,
    cpu_cores: np.ndarray,
    heap_mb: np.ndarray,
    rng: np.random.Generator,
) -> tuple[VerticalState, VerticalMetrics]:
    """Advance every env one step: apply the (replicas, CPU, heap) decision, roll pods, serve."""
    n = state.num_envs
    dt = float(params.spec.step_s)
    model = params.model
    lam = np.broadcast_to(np.asarray(arrival_rate_rps, dtype=np.float64), (n,))
    if np.any(~np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError("arrival_rate_rps must be finite and >= 0")
    desired = params.clip_replicas(np.broadcast_to(np.asarray(desired_replicas), (n,)))
    cpu = params.clip_cpu(np.broadcast_to(np.asarray(cpu_cores, dtype=np.float64), (n,)))
    heap = params.clip_heap(np.broadcast_to(np.asarray(heap_mb, dtype=np.float64), (n,)))
    d_steps = params.startup_steps

    # 1. template change: every ready pod becomes "old", not-yet-ready ones are deleted
    changed = (np.abs(cpu - state.cpu_cores) > 1e-9) | (np.abs(heap - state.heap_mb) > 1e-9)
    if np.any(changed):
        cur_cap = model.pod_capacity_rps(state.cpu_cores, state.heap_mb)
        cur_mem = model.memory_gib(state.heap_mb)
        tot = state.ready_old + state.ready_new
        w_old = np.divide(state.ready_old, tot, out=np.zeros(n), where=tot > 0)
        for name, cur in (
            ("old_capacity_rps", cur_cap),
            ("old_cpu_cores", state.cpu_cores),
            ("old_memory_gib", cur_mem),
        ):
            arr = getattr(state, name)
            arr[changed] = (w_old * arr + (1.0 - w_old) * cur)[changed]
        state.ready_old[changed] = tot[changed]
        state.ready_new[changed] = 0
        state.pending[changed] = 0
        state.cpu_cores[changed] = cpu[changed]
        state.heap_mb[changed] = heap[changed]
    state.desired[:] = desired

    # 2. reconcile: rolling update where old pods remain, plain scaling elsewhere
    pend = state.pending.sum(axis=1)
    rolling = state.ready_old > 0
    surge = np.where(rolling, _pods_per_fraction(desired, params.max_surge, up=True), 0)
    unavail = _pods_per_fraction(desired, params.max_unavailable, up=False)
    unavail = np.where((surge == 0) & (unavail == 0), 1, unavail)  # k8s forbids both 0
    # old pods go while enough pods stay available (and never more than needed overall)
    removable = state.ready_old + state.ready_new - (desired - unavail)
    excess_old = np.maximum(state.ready_old + state.ready_new + pend - (desired + surge), 0)
    remove_old = np.clip(np.maximum(removable, excess_old), 0, state.ready_old)
    state.ready_old -= remove_old
    # new pods: up to desired, and while rolling within desired + surge overall
    new_total = state.ready_new + pend
    room = np.where(rolling, desired + surge - state.ready_old - new_total, desired - new_total)
    add = np.clip(np.minimum(desired - new_total, room), 0, None)
    state.pending[:, -1] += add
    # scale-down of the new template (no old pods left): pending first, then ready
    over = np.where(state.ready_old == 0, np.maximum(new_total - desired, 0), 0)
    if np.any(over > 0):
        for k in range(state.pending.shape[1] - 1, -1, -1):
            take = np.minimum(state.pending[:, k], over)
            state.pending[:, k] -= take
            over -= take
        state.ready_new -= np.minimum(over, state.ready_new)
    if d_steps == 0:  # no start-up delay: pods are ready at once
        due_now = state.pending[:, -1].copy()
        state.pending[:, -1] = 0
        oom_now = model.oom(state.heap_mb)
        state.ready_new += np.where(oom_now, 0, due_now)

    # 3. serve
    ready_f = (state.ready_old + state.ready_new).astype(np.float64)
    cap_new = model.pod_capacity_rps(state.cpu_cores, state.heap_mb)
    capacity_rps = np.minimum(
        state.ready_old * state.old_capacity_rps + state.ready_new * cap_new, params.backend_capacity_rps
    )
    offered = rng.poisson(lam * dt).astype(np.float64) if params.poisson_arrivals else lam * dt
    backlog_start = state.backlog.copy()
    available = backlog_start + offered
    served = np.minimum(available, capacity_rps * dt)
    rest = available - served
    backlog_end = np.minimum(rest, params.request_timeout_s * capacity_rps)
    dropped = rest - backlog_end
    state.backlog[:] = backlog_end
    served_rps = served / dt

    # latency law base + U(0, width) + T (see sim.queueing)
    mu = np.divide(capacity_rps, ready_f, out=np.zeros(n), where=ready_f > 0)
    inv_cap = np.divide(1.0, capacity_rps, out=np.zeros(n), where=capacity_rps > 0)
    d0, d1 = backlog_start * inv_cap, backlog_end * inv_cap
    safe_mu = np.where(mu > 0, mu, 1.0)
    base = np.maximum(model.base_latency_s - 1.0 / safe_mu, 0.001) + np.minimum(d0, d1)
    width = np.abs(d1 - d0)
    a = served_rps / safe_mu
    sat = (backlog_start > 0) | (backlog_end > 0) | (dropped > 0) | (a >= ready_f)
    wait_prob = np.where(
        sat,
        0.0,
        np.minimum(model.wait_scale * erlang_c(np.where(sat, 1.0, ready_f), np.where(sat, 0.0, a)), 1.0),
    )
    wait_rate = np.where(sat, safe_mu, np.maximum(capacity_rps - served_rps, 1e-9))
    service_rate = safe_mu
    no_pods = ready_f <= 0
    surv = latency_survival_params(params.spec.slo_latency_s, base, width, wait_prob, wait_rate, service_rate)
    violating = np.where(no_pods, 0.0, served * surv)
    latency_mean = np.where(no_pods, np.nan, base + 0.5 * width + wait_prob / wait_rate + 1.0 / service_rate)
    p95 = np.where(
        no_pods,
        np.nan,
        latency_quantile_params(0.95, base, width, wait_prob, wait_rate, service_rate, iterations=8),
    )

    # CPU and memory use, utilisation against the request of the ready pods
    gc = np.maximum(model.gc_factor(state.heap_mb), 1e-9)
    per_pod = np.divide(served_rps, ready_f, out=np.zeros(n), where=ready_f > 0)
    use_new = np.minimum(model.cpu_idle_cores + per_pod * model.cpu_per_request_core_s / gc, state.cpu_cores)
    use_old = np.minimum(model.cpu_idle_cores + per_pod * model.cpu_per_request_core_s, state.old_cpu_cores)
    req = state.ready_new * state.cpu_cores + state.ready_old * state.old_cpu_cores
    used = state.ready_new * use_new + state.ready_old * use_old
    cpu_util = np.where(ready_f > 0, np.divide(used, req, out=np.zeros(n), where=req > 0), np.nan)
    mem_new = model.memory_gib(state.heap_mb)
    memory_used = np.where(
        ready_f > 0,
        (state.ready_new * mem_new + state.ready_old * state.old_memory_gib) / np.maximum(ready_f, 1.0),
        np.nan,
    )

    # cost: every existing pod at its template's requests
    pend = state.pending.sum(axis=1)
    n_new = (state.ready_new + pend).astype(np.float64)
    pod_seconds = (n_new + state.ready_old) * dt
    cpu_core_seconds = (n_new * state.cpu_cores + state.ready_old * state.old_cpu_cores) * dt
    memory_gib_seconds = (n_new * mem_new + state.ready_old * state.old_memory_gib) * dt
    cost = (
        cpu_core_seconds * params.price_cpu_core_hour + memory_gib_seconds * params.price_memory_gib_hour
    ) / 3600.0

    # 4. start-up: pods due now finish starting; too-small heap -> OOM, restart
    oom_step = np.zeros(n, dtype=np.int64)
    if d_steps > 0:
        due = state.pending[:, 0].copy()
        state.pending[:, :-1] = state.pending[:, 1:]
        state.pending[:, -1] = 0
        oom = model.oom(state.heap_mb) & (due > 0)
        oom_step = np.where(oom, due, 0)
        state.ready_new += np.where(oom, 0, due)
        state.pending[:, -1] += oom_step  # restart: another start-up delay
        state.oom_kills += oom_step
        state.restarts += oom_step
    state.time_s += dt
    state.last_rate_rps[:] = offered / dt
    state.last_cpu_utilization[:] = cpu_util
    state.last_latency_p95_s[:] = p95
    state.last_dropped_rps[:] = dropped / dt

    metrics = VerticalMetrics(
        offered=offered,
        served=served,
        dropped=dropped,
        backlog=backlog_end.copy(),
        violating=violating,
        ready=(state.ready_new + state.ready_old).copy(),
        pending=state.pending.sum(axis=1),
        desired=desired.copy(),
        capacity_rps=capacity_rps,
        cpu_cores=state.cpu_cores.copy(),
        heap_mb=state.heap_mb.copy(),
        cpu_utilization=cpu_util,
        memory_used_gib=memory_used,
        latency_mean_s=latency_mean,
        latency_p95_s=p95,
        pod_seconds=pod_seconds,
        cpu_core_seconds=cpu_core_seconds,
        memory_gib_seconds=memory_gib_seconds,
        cost_usd=cost,
        oom_kills=oom_step,
        rolling=state.ready_old > 0,
    )
    return state, metrics


def signals(params: VerticalParams, state: VerticalState) -> ScalingSignals:
    """The core scaling signals of the last step (for HPA-style policies and observations)."""
    del params
    return ScalingSignals(
        time_s=state.time_s.copy(),
        desired_replicas=state.desired.astype(np.float64),
        ready_replicas=(state.ready_new + state.ready_old).astype(np.float64),
        pending_replicas=state.pending.sum(axis=1).astype(np.float64),
        request_rate_rps=state.last_rate_rps.copy(),
        cpu_utilization=state.last_cpu_utilization.copy(),
        latency_p95_s=state.last_latency_p95_s.copy(),
        backlog_requests=state.backlog.copy(),
        dropped_rps=state.last_dropped_rps.copy(),
    )


def vertical_signals(params: VerticalParams, state: VerticalState) -> VerticalSignals:
    """What a vertical scaler sees: the core signals plus the pod template and memory use."""
    mem = params.model.memory_gib(state.heap_mb)
    return VerticalSignals(
        signals(params, state), state.cpu_cores.copy(), state.heap_mb.copy(), np.asarray(mem, float)
    )
