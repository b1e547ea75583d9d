"""The model of one scaled service: what the simulator needs beyond the :class:`ServiceSpec`
a scaler sees (DESIGN.md §3).

Numeric model fields may be scalars or per-environment arrays of shape ``(num_envs,)``, which
is how domain randomisation works: the policy keeps believing ``spec`` while each simulated
service differs from it a little.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.core.time_steps import seconds_to_steps

#: kubecost's default on-demand prices (kubecost cost-model ``defaultCPU``/``defaultRAM``
#: in its default pricing config, the same constants the app2scale operator uses for its
#: ``cost`` column, see data/app2scale/README.md): $ per core-hour and per GiB-hour.
KUBECOST_PRICE_CPU_CORE_HOUR = 0.031611
KUBECOST_PRICE_MEMORY_GIB_HOUR = 0.004237

#: Model fields that may be per-env arrays (domain randomisation).
ARRAY_FIELDS: tuple[str, ...] = (
    "base_latency_s",
    "startup_delay_min_s",
    "startup_delay_max_s",
    "cpu_per_request_core_s",
    "cpu_limit_cores",
    "cpu_idle_cores",
    "queue_bound_requests",
    "request_timeout_s",
    "linear_latency_slope_s",
)

#: Fields that may hold one value per env: the float model fields and the integer metric lag.
_PER_ENV_FIELDS: tuple[str, ...] = (*ARRAY_FIELDS, "metric_lag_steps")

LatencyModel = Literal["mmc", "linear"]

FloatOrArray = float | np.ndarray


@dataclass(frozen=True, eq=False)
class ServiceParams:
    """Everything the simulator models about one service.

    - ``spec``: what the scaler is told (capacity, SLO, bounds, step length, requests).
    - Each ready pod is one server with exponential service at rate
      ``mu = (cpu_limit_cores - cpu_idle_cores) / cpu_per_request_core_s`` req/s (the CPU a pod
      may burn on requests, divided by the CPU one request costs), so vertical scaling changes mu.
    - ``base_latency_s``: fixed overhead added to every request (network, ingress, framework).
    - ``startup_delay_min_s``/``max_s``: a new pod's start-up delay is uniform in this range
      and rounded *up* to whole steps (a pod only serves from the first whole step it is ready).
    - ``cpu_idle_cores``: CPU a ready pod burns with no traffic (JVM, probes).
    - ``queue_bound_requests``: the most requests the service can hold queued (all pods).
    - ``request_timeout_s``: requests that would wait longer than this are dropped.
    - ``metric_lag_steps``: how many whole steps the metrics a scaler reads are behind (an
      int, or an int array of shape ``(num_envs,)`` under domain randomisation).
    - ``poisson_arrivals``: Poisson arrivals per step (else exactly ``rate·dt``).
    - ``latency_model``: ``"mmc"`` (M/M/c, Erlang C) or ``"linear"`` (seed 000's heuristic:
      a deterministic ``base_latency_s + rho·linear_latency_slope_s``, rho capped at 1).
    - prices: $ per requested core-hour and GiB-hour (kubecost defaults).
    """

    spec: ServiceSpec
    base_latency_s: FloatOrArray = 0.010
    startup_delay_min_s: FloatOrArray = 30.0
    startup_delay_max_s: FloatOrArray = 60.0
    cpu_per_request_core_s: FloatOrArray = 0.01
    cpu_limit_cores: FloatOrArray = 1.0
    cpu_idle_cores: FloatOrArray = 0.0
    queue_bound_requests: FloatOrArray = 1.0e6
    request_timeout_s: FloatOrArray = 30.0
    metric_lag_steps: int | np.ndarray = 1
    poisson_arrivals: bool = True
    latency_model: LatencyModel = "mmc"
    linear_latency_slope_s: FloatOrArray = 0.0
    price_cpu_core_hour: float = KUBECOST_PRICE_CPU_CORE_HOUR
    price_memory_gib_hour: float = KUBECOST_PRICE_MEMORY_GIB_HOUR
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        name = self.spec.name
        for f in ARRAY_FIELDS:
            value = np.asarray(getattr(self, f), dtype=np.float64)
            if value.ndim > 1:
                raise ValueError(f"ServiceParams {name!r}: {f} must be a scalar or a (num_envs,) array")
            if not np.all(np.isfinite(value) | (f in ("queue_bound_requests", "request_timeout_s"))):
                raise ValueError(f"ServiceParams {name!r}: {f} must be finite, got {getattr(self, f)}")
            if np.any(value < 0) or np.any(np.isnan(value)):
                raise ValueError(f"ServiceParams {name!r}: {f} must be >= 0, got {getattr(self, f)}")
        if np.any(np.asarray(self.cpu_per_request_core_s) <= 0):
            raise ValueError(f"ServiceParams {name!r}: cpu_per_request_core_s must be > 0")
        if np.any(np.asarray(self.cpu_limit_cores) <= np.asarray(self.cpu_idle_cores)):
            raise ValueError(f"ServiceParams {name!r}: cpu_limit_cores must exceed cpu_idle_cores")
        if np.any(np.asarray(self.startup_delay_min_s) > np.asarray(self.startup_delay_max_s)):
            raise ValueError(f"ServiceParams {name!r}: startup_delay_min_s must be <= startup_delay_max_s")
        lag = np.asarray(self.metric_lag_steps)
        if lag.ndim > 1 or lag.dtype.kind not in "iu" or np.any(lag < 0):
            raise ValueError(
                f"ServiceParams {name!r}: metric_lag_steps must be an int >= 0 (or a (num_envs,) array of them)"
            )
        if self.latency_model not in ("mmc", "linear"):
            raise ValueError(f"ServiceParams {name!r}: latency_model must be 'mmc' or 'linear'")
        if self.price_cpu_core_hour < 0 or self.price_memory_gib_hour < 0:
            raise ValueError(f"ServiceParams {name!r}: prices must be >= 0")
        sizes = {np.size(getattr(self, f)) for f in _PER_ENV_FIELDS} - {1}
        if len(sizes) > 1:
            raise ValueError(f"ServiceParams {name!r}: per-env arrays have different lengths {sorted(sizes)}")

    # ----------------------------------------------------------------- derived values
    @property
    def mu_rps(self) -> FloatOrArray:
        """Service rate of one ready pod, req/s (its capacity at the CPU limit)."""
        return (np.asarray(self.cpu_limit_cores) - np.asarray(self.cpu_idle_cores)) / np.asarray(
            self.cpu_per_request_core_s
        )

    @property
    def pod_capacity_rps(self) -> FloatOrArray:
        """Alias of :attr:`mu_rps`."""
        return self.mu_rps

    @property
    def step_s(self) -> float:
        return float(self.spec.step_s)

    @property
    def num_envs(self) -> int | None:
        """Length of the per-env arrays, None when every field is a scalar."""
        sizes = {np.size(getattr(self, f)) for f in _PER_ENV_FIELDS if np.ndim(getattr(self, f)) == 1}
        return sizes.pop() if sizes else None

    def max_metric_lag_steps(self) -> int:
        """Largest metric lag in steps (sizes the metric lag ring buffer)."""
        return int(np.max(self.metric_lag_steps))

    def max_startup_steps(self) -> int:
        """Largest start-up delay in whole steps (sizes the pending-pod ring buffer)."""
        return seconds_to_steps(float(np.max(self.startup_delay_max_s)), self.step_s)

    # ----------------------------------------------------------------- transforms
    def with_per_env(self, num_envs: int) -> ServiceParams:
        """The same parameters with every numeric model field broadcast to ``(num_envs,)``
        (a scalar metric lag stays scalar: the simulator reads one lag faster)."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        values: dict[str, Any] = {}
        for f in ARRAY_FIELDS:
            v = np.asarray(getattr(self, f), dtype=np.float64)
            if v.ndim == 1 and v.shape[0] != num_envs:
                raise ValueError(f"ServiceParams: {f} has {v.shape[0]} envs, asked for {num_envs}")
            values[f] = np.broadcast_to(v, (num_envs,)).copy()
        return replace(self, **values)

    def select(self, index: np.ndarray | slice) -> ServiceParams:
        """The parameters of a subset of environments (scalars stay scalars)."""
        values = {
            f: np.asarray(getattr(self, f))[index] for f in _PER_ENV_FIELDS if np.ndim(getattr(self, f)) == 1
        }
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (per-env arrays become lists)."""
        out: dict[str, Any] = {"spec": self.spec.to_dict()}
        for f in fields(self):
            if f.name == "spec":
                continue
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> ServiceParams:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise a ValueError naming ``source``."""
        if not isinstance(data, dict) or "spec" not in data:
            raise ValueError(f"{source}: service parameters need a 'spec' object")
        spec_fields = {f.name for f in fields(ServiceSpec)}
        spec_data = data["spec"]
        if not isinstance(spec_data, dict):
            raise ValueError(f"{source}: field 'spec' must be an object")
        unknown = set(spec_data) - spec_fields
        if unknown:
            raise ValueError(f"{source}: unknown spec field(s) {sorted(unknown)}")
        own = {f.name for f in fields(cls)} - {"spec"}
        unknown = set(data) - own - {"spec"}
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {sorted(unknown)}")
        values: dict[str, Any] = {}
        for k, v in data.items():
            if k == "spec":
                continue
            dtype = np.int64 if k == "metric_lag_steps" else np.float64
            values[k] = np.asarray(v, dtype=dtype) if isinstance(v, list) else v
        try:
            return cls(spec=ServiceSpec(**spec_data), **values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from exc
