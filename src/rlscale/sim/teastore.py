"""The ``teastore`` service model, calibrated to the measured app2scale data (seed 001): the
fitted :class:`TeaStoreModel` the vertical simulator runs and the ``teastore`` preset of the
horizontal one. The data readers are :mod:`rlscale.workload.app2scale`; the fit that produced
the constants below is :mod:`rlscale.calibration.teastore_fit` (``bench/calibration.py``).

Model (every parameter fitted by ``calibration.teastore_fit.fit_teastore``; the fitted values
are the defaults below):

- capacity of one pod: ``mu(cpu, heap) = max(cpu − idle, 0) / cpu_per_request · gc(heap)``:
  the CPU a pod may spend on requests over the CPU one request costs (DESIGN.md §3);
- GC pressure: ``gc(heap) = 1 / (1 + g · L / (heap − L))`` for heap > L, the classic
  garbage-collection cost model (GC work per allocated byte ∝ live / free heap); ``L`` is
  the JVM's live set: at or below it the JVM throws OutOfMemoryError and the pod dies;
- service capacity: ``min(replicas^beta · mu, backend)``: more webui replicas share the
  fixed TeaStore back-end services (auth, persistence, image: one replica each in the
  measured setup), so capacity grows sublinearly and saturates;
- throughput: ``min(offered, capacity)`` (a fluid server; Locust's timeouts drop the rest);
- latency (mean, unsaturated): ``base + k · W_mmc`` with ``W_mmc`` the Erlang-C mean wait of
  an M/M/c queue with ``c = replicas`` servers of rate ``capacity / replicas``;
- memory (working set per pod, GiB): ``m0 + m1 · ln(heap / 100 MB)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.sim.params import ServiceParams
from rlscale.sim.queueing import erlang_c


# ------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class TeaStoreModel:
    """The fitted TeaStore webui model (see module docstring). Units in the names."""

    cpu_per_request_core_s: float = 0.004482
    cpu_idle_cores: float = 0.1519
    replica_exponent: float = 0.3
    backend_capacity_rps: float = 225.7
    gc_coefficient: float = 0.3608
    live_heap_mb: float = 58.43
    base_latency_s: float = 0.02084
    wait_scale: float = 0.05192
    memory_base_gib: float = 0.6101
    memory_per_log_heap_gib: float = 0.08386

    def __post_init__(self) -> None:
        for f in fields(self):
            v = float(getattr(self, f.name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"TeaStoreModel: {f.name} must be finite and >= 0, got {v}")
        if self.cpu_per_request_core_s <= 0:
            raise ValueError("TeaStoreModel: cpu_per_request_core_s must be > 0")

    # ---------------------------------------------------------------- capacity
    def gc_factor(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """Fraction of a pod's capacity left after garbage collection (0 at or below the live set)."""
        h = np.asarray(heap_mb, dtype=np.float64)
        free = h - self.live_heap_mb
        with np.errstate(divide="ignore", invalid="ignore"):
            f = 1.0 / (1.0 + self.gc_coefficient * self.live_heap_mb / free)
        return np.where(free > 0, f, 0.0)

    def oom(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """True where the heap cannot hold the live set: the JVM dies (OutOfMemoryError)."""
        return np.asarray(heap_mb, dtype=np.float64) <= self.live_heap_mb

    def pod_capacity_rps(
        self, cpu_limit_cores: np.ndarray | float, heap_mb: np.ndarray | float
    ) -> np.ndarray:
        """Requests/s one ready pod sustains at its CPU limit and heap."""
        cpu = np.asarray(cpu_limit_cores, dtype=np.float64)
        return (
            np.maximum(cpu - self.cpu_idle_cores, 0.0) / self.cpu_per_request_core_s * self.gc_factor(heap_mb)
        )

    def service_capacity_rps(
        self, replicas: np.ndarray | float, cpu_limit_cores: np.ndarray | float, heap_mb: np.ndarray | float
    ) -> np.ndarray:
        """Requests/s ``replicas`` ready pods sustain together (sublinear, capped by the back-end)."""
        r = np.maximum(np.asarray(replicas, dtype=np.float64), 0.0)
        return np.minimum(
            r**self.replica_exponent * self.pod_capacity_rps(cpu_limit_cores, heap_mb),
            self.backend_capacity_rps,
        )

    def throughput_rps(
        self,
        offered_rps: np.ndarray | float,
        replicas: np.ndarray | float,
        cpu_limit_cores: np.ndarray | float,
        heap_mb: np.ndarray | float,
    ) -> np.ndarray:
        return np.minimum(
            np.asarray(offered_rps, dtype=np.float64),
            self.service_capacity_rps(replicas, cpu_limit_cores, heap_mb),
        )

    # ---------------------------------------------------------------- latency, memory
    def latency_mean_s(
        self,
        offered_rps: np.ndarray | float,
        replicas: np.ndarray | float,
        cpu_limit_cores: np.ndarray | float,
        heap_mb: np.ndarray | float,
    ) -> np.ndarray:
        """Mean response time below saturation (inf at or above it)."""
        lam = np.asarray(offered_rps, dtype=np.float64)
        r = np.maximum(np.asarray(replicas, dtype=np.float64), 1.0)
        cap = self.service_capacity_rps(r, cpu_limit_cores, heap_mb)
        lam, r, cap = np.broadcast_arrays(lam, r, cap)
        mu = np.divide(cap, r, out=np.zeros_like(cap), where=r > 0)
        a = np.divide(lam, mu, out=np.full_like(lam, np.inf), where=mu > 0)
        stable = a < r
        c_prob = erlang_c(r, np.where(stable, a, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(stable, c_prob / (r * mu - lam), np.inf)
        return self.base_latency_s + self.wait_scale * wait

    def memory_gib(self, heap_mb: np.ndarray | float) -> np.ndarray:
        """Working-set memory of one pod (GiB) at this heap."""
        h = np.maximum(np.asarray(heap_mb, dtype=np.float64), 1.0)
        return self.memory_base_gib + self.memory_per_log_heap_gib * np.log(h / 100.0)

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> TeaStoreModel:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown TeaStoreModel field(s) {sorted(unknown)}")
        try:
            return cls(**{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc


#: The calibrated model (values from ``fit_teastore`` on the training rows; see bench/calibration.py).
TEASTORE_MODEL = TeaStoreModel()
#: Default configuration of the ``teastore`` preset: the seed's middle CPU limit and the heap
#: the v4 runs held fixed (data/app2scale/README.md: heap = 7 → 700 MB).
TEASTORE_CPU_LIMIT_CORES = 0.6
TEASTORE_HEAP_MB = 700.0


def teastore_preset(
    model: TeaStoreModel = TEASTORE_MODEL,
    cpu_limit_cores: float = TEASTORE_CPU_LIMIT_CORES,
    heap_mb: float = TEASTORE_HEAP_MB,
) -> ServiceParams:
    """The ``teastore`` preset for the (horizontal) core simulator.

    The core simulator scales capacity linearly in replicas; the per-pod rate is the fitted
    one-pod capacity at ``cpu_limit_cores``/``heap_mb`` (the GC factor folded into the CPU cost
    per request). Sublinear back-end sharing is only in :mod:`rlscale.sim.vertical`.
    SLO 0.2 s (≈10× the unloaded 18–20 ms), 1–9 replicas (the seed's bounds), 15 s steps,
    start-up 30–60 s (JVM webapp; DESIGN.md §3 default), memory request = the modelled
    working set rounded up to 1 GiB, 30 s request timeout (OpenShift HAProxy default).
    """
    gc = float(model.gc_factor(heap_mb))
    if gc <= 0:
        raise ValueError(
            f"teastore_preset: heap {heap_mb} MB is at or below the live set {model.live_heap_mb} MB"
        )
    mu = float(model.pod_capacity_rps(cpu_limit_cores, heap_mb))
    if mu <= 0:
        raise ValueError(f"teastore_preset: CPU limit {cpu_limit_cores} cores leaves no capacity")
    spec = ServiceSpec(
        name="teastore",
        pod_capacity_rps=mu,
        slo_latency_s=0.2,
        min_replicas=1,
        max_replicas=9,
        step_s=15.0,
        startup_delay_s=45.0,
        cpu_request_cores=cpu_limit_cores,
        memory_request_gib=1.0,
    )
    # base latency: the fitted fixed part minus the M/M/1 service time the core sim adds
    base = max(model.base_latency_s - 1.0 / mu, 0.001)
    return ServiceParams(
        spec=spec,
        base_latency_s=base,
        startup_delay_min_s=30.0,
        startup_delay_max_s=60.0,
        cpu_per_request_core_s=model.cpu_per_request_core_s / gc,
        cpu_limit_cores=cpu_limit_cores,
        cpu_idle_cores=model.cpu_idle_cores,
        queue_bound_requests=1.0e6,
        request_timeout_s=30.0,
        metric_lag_steps=1,
        poisson_arrivals=True,
        latency_model="mmc",
        description=teastore_preset.__doc__ or "",
    )
