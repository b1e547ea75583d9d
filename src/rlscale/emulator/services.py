"""What the emulated cluster runs: services (a simulator preset plus an offered-load curve),
the load curves, the ``fast`` test preset, and :func:`make_service` for ``rlscale emulate``'s
options. :mod:`rlscale.emulator.cluster` turns them into Deployments and Pods."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.sim.params import ServiceParams
from rlscale.workload.transform import DEFAULT_PEAK_FRACTION

#: The node every emulated pod is scheduled on, and the image its one container runs.
NODE_NAME = "emulated-node-0"
CONTAINER_IMAGE = "rlscale/emulated-service:latest"

#: Offered load in requests per simulated second at a simulated time (seconds since start).
LoadCurve = Callable[[float], float]


def fast_params(name: str = "fast") -> ServiceParams:
    """A small, deterministic service for tests: 1 s steps, pods ready 2 s after creation,
    10 req/s per pod (``mu = (1.0 - 0.05) / 0.095``), no metric lag, fluid arrivals (so a
    known load gives a known rate)."""
    spec = ServiceSpec(
        name=name,
        pod_capacity_rps=10.0,
        slo_latency_s=0.5,
        min_replicas=1,
        max_replicas=10,
        step_s=1.0,
        startup_delay_s=2.0,
        cpu_request_cores=1.0,
        memory_request_gib=0.25,
    )
    return ServiceParams(
        spec=spec,
        base_latency_s=0.01,
        startup_delay_min_s=2.0,
        startup_delay_max_s=2.0,
        cpu_per_request_core_s=0.095,
        cpu_limit_cores=1.0,
        cpu_idle_cores=0.05,
        queue_bound_requests=1.0e4,
        request_timeout_s=5.0,
        metric_lag_steps=0,
        poisson_arrivals=False,
        description="emulator fast test preset",
    )


def resolve_params(preset: str) -> ServiceParams:
    """``fast`` (the emulator's test preset) or any simulator preset / service JSON file."""
    if preset == "fast":
        return fast_params()
    from rlscale.sim.presets import load_service

    return load_service(preset)


def constant_load(rps: float) -> LoadCurve:
    if not (math.isfinite(rps) and rps >= 0):
        raise ValueError(f"constant_load: rps must be finite and >= 0, got {rps}")
    return lambda t_s: rps


def rise_and_fall_load(low_rps: float, peak_rps: float, period_s: float) -> LoadCurve:
    """``low + (peak - low)·sin²(π t / period)``: starts low, peaks at ``period/2``, repeats."""
    if not (0 <= low_rps <= peak_rps and period_s > 0):
        raise ValueError(
            f"rise_and_fall_load: need 0 <= low_rps <= peak_rps and period_s > 0, got {low_rps}, {peak_rps}, {period_s}"
        )
    return lambda t_s: low_rps + (peak_rps - low_rps) * math.sin(math.pi * t_s / period_s) ** 2


def trace_load(
    rate_rps: np.ndarray, interval_s: float, *, peak_rps: float | None = None, loop: bool = True
) -> LoadCurve:
    """Linear interpolation of a per-interval rate series (e.g. ``Trace.rate_rps``), optionally
    rescaled so its maximum is ``peak_rps``; loops at the end unless ``loop=False``."""
    rate = np.asarray(rate_rps, dtype=np.float64).reshape(-1)
    if rate.size == 0 or not np.all(np.isfinite(rate)) or rate.min() < 0:
        raise ValueError("trace_load: rate series must be non-empty, finite and >= 0")
    if peak_rps is not None:
        top = float(rate.max())
        rate = rate * (peak_rps / top) if top > 0 else rate
    grid = np.arange(rate.size) * float(interval_s)
    duration = rate.size * float(interval_s)

    def load(t_s: float) -> float:
        t = t_s % duration if loop else min(t_s, duration)
        return float(np.interp(t, grid, rate))

    return load


@dataclass
class EmulatedService:
    """One simulated service, served as Deployment ``namespace/name``."""

    name: str
    params: ServiceParams
    load: LoadCurve
    namespace: str = "default"
    initial_replicas: int | None = None  # default: spec.min_replicas


def make_service(
    name: str = "web",
    preset: str = "fast",
    *,
    namespace: str = "default",
    trace: str | None = None,
    load_rps: float | None = None,
    peak_fraction: float = DEFAULT_PEAK_FRACTION,
    wave_period_s: float = 600.0,
    initial_replicas: int | None = None,
) -> EmulatedService:
    """One service from CLI-style options. Load, in order: a constant ``load_rps``; a ``trace``
    (a name, ``synthetic:...`` spec or CSV path for :func:`rlscale.workload.registry.get_trace`)
    rescaled so its peak is ``peak_fraction`` of capacity at max_replicas; else a
    rising-and-falling wave between 10 % and ``peak_fraction`` of that capacity."""
    base = resolve_params(preset)
    params = replace(base, spec=replace(base.spec, name=name))
    if not 0 < peak_fraction <= 2:
        raise ValueError(f"peak_fraction must be in (0, 2], got {peak_fraction}")
    capacity_rps = params.spec.pod_capacity_rps * params.spec.max_replicas
    peak = peak_fraction * capacity_rps
    if load_rps is not None:
        load = constant_load(load_rps)
    elif trace is not None:
        from rlscale.workload.registry import get_trace

        tr = get_trace(trace)
        load = trace_load(tr.rate_rps, tr.interval_s, peak_rps=peak)
    else:
        load = rise_and_fall_load(0.1 * capacity_rps, peak, wave_period_s)
    return EmulatedService(
        name=name, params=params, load=load, namespace=namespace, initial_replicas=initial_replicas
    )
