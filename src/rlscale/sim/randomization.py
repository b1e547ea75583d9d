"""Domain randomisation of service parameters: the one definition every trainer uses.

The policy believes the ``spec`` (capacity, start-up delay, SLO); each simulated service
differs from it, so a policy trained on many of them is robust to a mis-estimated capacity,
a slower or faster start-up and staler metrics than it was told. ``draw_service`` draws the
values; :func:`randomize` builds per-env parameters from them, and the vector env redraws
one row at each episode reset from the same function.

What varies, per env:

* capacity: CPU seconds per request (so the pod's service rate), idle CPU and base latency,
  each × an independent factor uniform in ``[1 − scale, 1 + scale]``;
* start-up delay: centred on a delay uniform in :data:`STARTUP_DELAY_RANGE_S`, with the
  base service's relative jitter (web: 30–60 s is 45 s ± 1/3), clipped to the range;
* metric lag: a whole number of periods, uniform in ``[0, METRIC_LAG_MAX_S / step_s]``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rlscale.sim.params import ServiceParams

#: Start-up delays drawn, s: issue 13 ("start-up delay 5–120 s"): 5 s for a small cached
#: image, 120 s for JVM warm-up or model loading (LLM images take minutes, kthena#1361 in
#: reference/autoscalers.md).
STARTUP_DELAY_RANGE_S: tuple[float, float] = (5.0, 120.0)
#: Largest metric lag drawn, s: metrics-server's default ``--metric-resolution`` is 60 s
#: (its FAQ; reference/autoscalers.md §1.7), newer manifests 10–15 s; a fresh scrape is 0.
METRIC_LAG_MAX_S = 60.0


def max_metric_lag_steps(step_s: float) -> int:
    """Largest metric lag drawn, in whole periods of ``step_s``."""
    return int(METRIC_LAG_MAX_S // step_s)


def draw_service(
    base: ServiceParams, rng: np.random.Generator, num_envs: int, scale: float
) -> dict[str, np.ndarray]:
    """Randomised values of ``num_envs`` services around ``base`` (field name → array)."""
    if not 0.0 < scale < 1.0:
        raise ValueError(f"randomisation scale must be in (0, 1), got {scale}")
    f = rng.uniform(1.0 - scale, 1.0 + scale, size=(3, num_envs))
    lo, hi = STARTUP_DELAY_RANGE_S
    delay = rng.uniform(lo, hi, size=num_envs)
    lag = rng.integers(0, max_metric_lag_steps(base.step_s), endpoint=True, size=num_envs)
    d_min, d_max = np.asarray(base.startup_delay_min_s), np.asarray(base.startup_delay_max_s)
    jitter = np.divide(d_max - d_min, d_max + d_min, out=np.zeros(np.shape(d_min)), where=d_max + d_min > 0)
    return {
        "cpu_per_request_core_s": np.asarray(base.cpu_per_request_core_s) * f[0],
        "cpu_idle_cores": np.minimum(
            np.asarray(base.cpu_idle_cores) * f[1], 0.9 * np.asarray(base.cpu_limit_cores)
        ),
        "base_latency_s": np.asarray(base.base_latency_s) * f[2],
        "startup_delay_min_s": np.maximum(delay * (1.0 - jitter), lo),
        "startup_delay_max_s": np.minimum(delay * (1.0 + jitter), hi),
        "metric_lag_steps": lag.astype(np.int64),
    }


def randomize(
    params: ServiceParams,
    rng: np.random.Generator,
    num_envs: int,
    scale: float = 0.2,
) -> ServiceParams:
    """Per-env copies of ``params`` with the fields of :func:`draw_service` randomised
    (``scale == 0``: unchanged copies). The spec, what the policy believes, is unchanged."""
    if not 0.0 <= scale < 1.0:
        raise ValueError(f"randomize: scale must be in [0, 1), got {scale}")
    base = params.with_per_env(num_envs)
    if scale == 0.0:
        return base
    return replace(base, **draw_service(params, rng, num_envs, scale))


def sizing_bounds(params: ServiceParams) -> ServiceParams:
    """``params`` with the largest start-up delay and metric lag randomisation can draw, for
    sizing the simulator's ring buffers once (rows are redrawn in place later)."""
    n = params.num_envs or 1
    return replace(
        params.with_per_env(n),
        startup_delay_max_s=np.full(
            n, max(STARTUP_DELAY_RANGE_S[1], float(np.max(params.startup_delay_max_s)))
        ),
        metric_lag_steps=np.full(n, max(max_metric_lag_steps(params.step_s), params.max_metric_lag_steps())),
    )
