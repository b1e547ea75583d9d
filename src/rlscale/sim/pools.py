"""Several pod classes serving one service (seed 003: GPU and CPU Triton pools), batched.

Each pool is a full core-simulator service (:mod:`rlscale.sim.simulator`: its own M/M/c
queue, start-up delay, backlog, metric lag and cost), so nothing about queueing is
re-implemented here. What this module adds is **routing**: the arrivals ``λ`` are split
across pools with weights

    w_p ∝ ready_p · mu_p · bias_p(placement)

(capacity-proportional, as a weighted load balancer would, times the placement preference's
bias; a pool with no ready pod gets nothing unless no pool has one, then the split is even).
Seed 003's placement preference was logged and ignored; here it moves load: with
``prefer_gpu`` the GPU pool's share is ``PLACEMENT_BIAS`` times its capacity share.

Cost: every pod (ready or pending) of a pool at that pool's price per pod-hour, folded into
the core simulator's CPU price (``price_cpu_core_hour`` of each pool's :class:`ServiceParams`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.sim import simulator as core
from rlscale.sim.params import KUBECOST_PRICE_CPU_CORE_HOUR, KUBECOST_PRICE_MEMORY_GIB_HOUR, ServiceParams

#: Placement preferences (the third action component).
PLACEMENTS: tuple[str, ...] = ("prefer_gpu", "proportional", "prefer_cpu")
#: How strongly a preference tilts the capacity-proportional split toward its pool.
PLACEMENT_BIAS = 3.0
#: One NVIDIA T4 on-demand, $ per GPU-hour (GCP list price, us-central1): an assumption of
#: this preset, not a measurement: change it for your cloud.
GPU_PRICE_USD_HOUR = 0.35


@dataclass(frozen=True)
class PoolsParams:
    """Pools (each a core :class:`ServiceParams`), the overall SLO and step."""

    pools: tuple[ServiceParams, ...]
    names: tuple[str, ...]
    slo_latency_s: float
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.pools) < 2 or len(self.pools) != len(self.names):
            raise ValueError("PoolsParams: need >= 2 pools, one name each")
        steps = {p.spec.step_s for p in self.pools}
        if len(steps) != 1:
            raise ValueError(f"PoolsParams: every pool needs the same step_s, got {sorted(steps)}")
        if any(p.num_envs is not None for p in self.pools):
            raise ValueError("PoolsParams: pool parameters must be scalars")

    @property
    def step_s(self) -> float:
        return float(self.pools[0].spec.step_s)

    @property
    def num_pools(self) -> int:
        return len(self.pools)

    def pod_price_usd_hour(self, i: int) -> float:
        p = self.pools[i]
        return (
            p.spec.cpu_request_cores * p.price_cpu_core_hour
            + p.spec.memory_request_gib * p.price_memory_gib_hour
        )

    def max_capacity_rps(self) -> float:
        return float(sum(float(p.mu_rps) * p.spec.max_replicas for p in self.pools))


def _pool(
    name: str,
    mu_rps: float,
    cores: float,
    mem_gib: float,
    extra_usd_h: float,
    startup: tuple[float, float],
    base_s: float,
    slo_s: float,
    max_replicas: int,
) -> ServiceParams:
    # fold the accelerator's price into the per-core price so the core sim bills it per pod
    price_cpu = KUBECOST_PRICE_CPU_CORE_HOUR + extra_usd_h / cores
    spec = ServiceSpec(
        name=name,
        pod_capacity_rps=mu_rps,
        slo_latency_s=slo_s,
        min_replicas=0,
        max_replicas=max_replicas,
        step_s=15.0,
        startup_delay_s=0.5 * sum(startup),
        cpu_request_cores=cores,
        memory_request_gib=mem_gib,
    )
    return ServiceParams(
        spec=spec,
        base_latency_s=base_s,
        startup_delay_min_s=startup[0],
        startup_delay_max_s=startup[1],
        cpu_per_request_core_s=cores / mu_rps,
        cpu_limit_cores=cores,
        cpu_idle_cores=0.0,
        request_timeout_s=30.0,
        metric_lag_steps=1,
        price_cpu_core_hour=price_cpu,
        price_memory_gib_hour=KUBECOST_PRICE_MEMORY_GIB_HOUR,
    )


def pools_preset() -> PoolsParams:
    """``pools``: an image-classification service (seed 003's MobileNetV4 on Triton) with a
    GPU pool and a CPU pool, 0–10 pods each (seed 003's bounds; 0 allowed so all-GPU and
    all-CPU are expressible).

    - GPU pod: 1 × T4 + 4 cores + 8 GiB (seed 003's requests), 40 req/s, start-up 90–120 s
      (driver, model load onto the GPU), $0.35/h GPU + kubecost CPU/RAM ≈ $0.51/h;
    - CPU pod: 2 cores + 4 GiB, 8 req/s, start-up 30–45 s, ≈ $0.08/h;
    - SLO 0.5 s: a CPU pod's mean service time is 125 ms, so a busy CPU pool misses it far
      more often than the GPU pool (25 ms); the CPU pool is cheaper per req/s
      (≈ $0.010 vs $0.013 per req/s-hour) and starts faster. Capacities are assumptions
      in seed 003's spirit (its own measurements hit only health endpoints).
    """
    slo = 0.5
    gpu = _pool("pools-gpu", 40.0, 4.0, 8.0, GPU_PRICE_USD_HOUR, (90.0, 120.0), 0.010, slo, 10)
    cpu = _pool("pools-cpu", 8.0, 2.0, 4.0, 0.0, (30.0, 45.0), 0.010, slo, 10)
    return PoolsParams(
        pools=(gpu, cpu), names=("gpu", "cpu"), slo_latency_s=slo, description=pools_preset.__doc__ or ""
    )


@dataclass(eq=False)
class PoolsState:
    states: list[core.SimState]
    placement: np.ndarray  # int64 (n,) index into PLACEMENTS

    @property
    def num_envs(self) -> int:
        return self.states[0].num_envs


@dataclass(eq=False)
class PoolsMetrics:
    """Totals over pools (arrays (n,)) plus per-pool metrics and the routing weights (n, P)."""

    offered: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    violating: np.ndarray
    cost_usd: np.ndarray
    weights: np.ndarray
    arrival_rps: np.ndarray
    per_pool: list[core.StepMetrics]

    @property
    def slo_failures(self) -> np.ndarray:
        return self.violating + self.dropped


def init_state(
    params: PoolsParams,
    num_envs: int,
    replicas: np.ndarray | tuple[int, ...],
    placement: int = 1,
    initial_rate_rps: float = 0.0,
) -> PoolsState:
    reps = np.broadcast_to(np.asarray(replicas, dtype=np.int64), (num_envs, params.num_pools))
    caps = np.array([float(p.mu_rps) for p in params.pools])
    share = reps * caps
    tot = share.sum(axis=1, keepdims=True)
    share = np.divide(share, tot, out=np.full_like(share, 1.0 / params.num_pools, dtype=float), where=tot > 0)
    states = [
        core.init_state(p, num_envs, reps[:, i].copy(), initial_rate_rps=initial_rate_rps * share[:, i])
        for i, p in enumerate(params.pools)
    ]
    return PoolsState(states=states, placement=np.full(num_envs, int(placement), dtype=np.int64))


def routing_weights(params: PoolsParams, state: PoolsState, placement: np.ndarray) -> np.ndarray:
    """(n, P) arrival shares: ready capacity × placement bias, normalised (even if no pod is ready)."""
    n, npools = state.num_envs, params.num_pools
    placement = np.asarray(placement, dtype=np.int64)
    if np.any((placement < 0) | (placement >= len(PLACEMENTS))):
        raise ValueError(f"placement must be in [0, {len(PLACEMENTS)}), got {placement}")
    cap = np.stack(
        [
            s.ready.astype(np.float64) * float(p.mu_rps)
            for s, p in zip(state.states, params.pools, strict=True)
        ],
        axis=1,
    )
    bias = np.ones((n, npools))
    bias[placement == 0, 0] = PLACEMENT_BIAS  # prefer the first pool (GPU)
    bias[placement == 2, npools - 1] = PLACEMENT_BIAS  # prefer the last pool (CPU)
    w = cap * bias
    tot = w.sum(axis=1, keepdims=True)
    return np.divide(w, tot, out=np.full((n, npools), 1.0 / npools), where=tot > 0)


def step(
    params: PoolsParams,
    state: PoolsState,
    arrival_rate_rps: np.ndarray,
    desired_replicas: np.ndarray,
    placement: np.ndarray,
    rng: np.random.Generator,
) -> tuple[PoolsState, PoolsMetrics]:
    """One step: route ``arrival_rate_rps`` by the weights of the *current* ready pods and the
    placement, then step every pool with its share and its desired count (``(n, P)``)."""
    n = state.num_envs
    lam = np.broadcast_to(np.asarray(arrival_rate_rps, dtype=np.float64), (n,))
    desired = np.asarray(desired_replicas)
    if desired.shape != (n, params.num_pools):
        raise ValueError(f"desired_replicas must have shape ({n}, {params.num_pools}), got {desired.shape}")
    state.placement[:] = np.asarray(placement, dtype=np.int64)
    w = routing_weights(params, state, state.placement)
    per_pool = []
    for i, p in enumerate(params.pools):
        _, m = core.step(p, state.states[i], lam * w[:, i], desired[:, i], rng)
        per_pool.append(m)
    total = {
        k: sum(getattr(m, k) for m in per_pool)
        for k in ("offered", "served", "dropped", "violating", "cost_usd")
    }
    metrics = PoolsMetrics(weights=w, arrival_rps=lam.copy(), per_pool=per_pool, **total)
    return state, metrics
