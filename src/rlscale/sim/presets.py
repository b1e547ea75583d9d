"""Named, documented service presets, and JSON load/save for calibrated ones.

``web`` (the default) is calibrated to the measured TeaStore data; ``lipari2025`` is seed
000's simulator setting so its published HPA/DQN table can be reproduced.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from rlscale.core.atomic_file import write_text_atomic
from rlscale.core.kubernetes_defaults import HPA_SYNC_PERIOD_S
from rlscale.core.spec import ServiceSpec
from rlscale.sim.params import ServiceParams

# --------------------------------------------------------------------------------------- web
#: CPU-seconds per request and idle CPU of one TeaStore webui pod: least-squares line through
#: the median ``cpu_usage`` (cores per pod) against ``num_request`` (req/s) of the 1-replica,
#: 900 m rows of data/app2scale/agent_v4_constant_heap_{1,2}.csv (24..144 req/s, unsaturated):
#: usage = 0.047 cores + 0.00526 core-s x rate.
WEB_CPU_PER_REQUEST_CORE_S = 0.00526
WEB_CPU_IDLE_CORES = 0.047
#: CPU limit (= request, Guaranteed QoS) 600 m: the middle of the 400–900 m range measured;
#: the model then gives mu = (0.6 - 0.047) / 0.00526 = 105.1 req/s, and the measured 600 m,
#: 1-replica throughput plateaus at 103.5–104.9 req/s (README: "one replica saturates near
#: 105–115 req/s").
WEB_CPU_LIMIT_CORES = 0.6
WEB_MU_RPS = (WEB_CPU_LIMIT_CORES - WEB_CPU_IDLE_CORES) / WEB_CPU_PER_REQUEST_CORE_S


def _web() -> ServiceParams:
    """TeaStore webui, calibrated to data/app2scale (see module constants for the fits).

    - mu = 105.1 req/s per pod at a 600 m CPU limit (fit above, matches the measured plateau).
    - base_latency_s = 0.010: the measured mean response time at low load is 18–20 ms
      (README median-RT table, 24–48 req/s); the M/M/1 sojourn there is 1/(105 − 24) ≈ 12 ms
      at 600 m and ≈ 7 ms at 900 m, leaving ~10 ms of fixed overhead (router, network).
    - SLO 0.2 s (p-request latency): ~10x the unloaded response time; the measured mean
      crosses 140 ms exactly when one replica saturates (README table, 120 req/s), so 200 ms
      separates a healthy service from a saturated one.
    - 1–20 replicas, 15 s steps (the HPA sync period), start-up 30–60 s (DESIGN.md §3 default;
      a JVM webapp with readiness probes; the README's runs wait 300 s to be safe).
    - memory request 1 GiB (measured working set 0.76–0.79 GB with a 700 MB heap).
    - request timeout 30 s: OpenShift's HAProxy router default ``timeout server 30s`` (the
      measured cluster was OpenShift 4.7); queue bound 1e6 (effectively the timeout rules).
    - metric lag 1 step: metrics-server/Prometheus rates over ~1 min windows refreshed every
      15 s (reference/autoscalers.md §1.7) are on average about one period behind.
    """
    spec = ServiceSpec(
        name="web",
        pod_capacity_rps=WEB_MU_RPS,
        slo_latency_s=0.2,
        min_replicas=1,
        max_replicas=20,
        step_s=HPA_SYNC_PERIOD_S,
        startup_delay_s=45.0,
        cpu_request_cores=WEB_CPU_LIMIT_CORES,
        memory_request_gib=1.0,
    )
    return ServiceParams(
        spec=spec,
        base_latency_s=0.010,
        startup_delay_min_s=30.0,
        startup_delay_max_s=60.0,
        cpu_per_request_core_s=WEB_CPU_PER_REQUEST_CORE_S,
        cpu_limit_cores=WEB_CPU_LIMIT_CORES,
        cpu_idle_cores=WEB_CPU_IDLE_CORES,
        queue_bound_requests=1.0e6,
        request_timeout_s=30.0,
        metric_lag_steps=1,
        poisson_arrivals=True,
        latency_model="mmc",
        description=_web.__doc__ or "",
    )


# --------------------------------------------------------------------------------- lipari2025
def _lipari2025() -> ServiceParams:
    """Seed 000 (alfredoLipari/CustomAutoscaler-k8s, app/dqn/test_environmnet.py), per
    reference/seed-systems.md §1.1: mu = 0.8 req/s per replica, SLO Tmax = 0.7 s, 1–13
    replicas, 15 s steps, **no start-up delay** (actions take effect at once), CPU% =
    100·λ/(N·mu) (so idle CPU 0 and 1/0.8 = 1.25 core-s per request at a 1-core request),
    and its latency heuristic ``RT = Tmin + rho·(1 − Tmin)`` with Tmin = 0.2 s (the
    ``linear`` latency model with slope 0.8 s). Arrivals are deterministic (the seed feeds the
    rate itself), metrics are not lagged. Overload waiting uses our backlog drain time instead
    of the seed's random Gamma draw, and RT is not capped at 1 s.
    """
    spec = ServiceSpec(
        name="lipari2025",
        pod_capacity_rps=0.8,
        slo_latency_s=0.7,
        min_replicas=1,
        max_replicas=13,
        step_s=15.0,
        startup_delay_s=0.0,
        cpu_request_cores=1.0,
        memory_request_gib=1.0,
    )
    return ServiceParams(
        spec=spec,
        base_latency_s=0.2,
        startup_delay_min_s=0.0,
        startup_delay_max_s=0.0,
        cpu_per_request_core_s=1.25,
        cpu_limit_cores=1.0,
        cpu_idle_cores=0.0,
        queue_bound_requests=1.0e6,
        request_timeout_s=math.inf,
        metric_lag_steps=0,
        poisson_arrivals=False,
        latency_model="linear",
        linear_latency_slope_s=0.8,
        description=_lipari2025.__doc__ or "",
    )


PRESETS: dict[str, ServiceParams] = {"web": _web(), "lipari2025": _lipari2025()}
# Calibrated TeaStore model (sim/teastore.py, issue 6): registered here so ``--service teastore`` works.
from rlscale.sim.teastore import teastore_preset  # noqa: E402

PRESETS["teastore"] = teastore_preset()


def get_preset(name: str) -> ServiceParams:
    """A named preset; an unknown name raises a ValueError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown service preset {name!r}; known presets: {sorted(PRESETS)}") from None


def load_service(name_or_path: str | os.PathLike[str] | ServiceParams) -> ServiceParams:
    """A preset by name, or service parameters from a JSON file (as written by :func:`save_service`)."""
    if isinstance(name_or_path, ServiceParams):
        return name_or_path
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"service file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
        return ServiceParams.from_dict(data, source=str(path))
    return get_preset(text)


def save_service(params: ServiceParams, path: str | os.PathLike[str]) -> Path:
    """Write ``params`` as JSON atomically (temp file in the same folder, then rename)."""
    return write_text_atomic(path, json.dumps(params.to_dict(), indent=2, allow_nan=True) + "\n")
