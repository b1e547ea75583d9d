"""``rlscale calibrate`` as a library call: read a Deployment's history from Prometheus, fit
a preset, write it where ``--service PATH`` reads it."""

from __future__ import annotations

import os
from pathlib import Path

from rlscale.calibration.fit import CalibrationResult, fit_service
from rlscale.calibration.history import CalibrationQueries, fetch_history
from rlscale.prometheus.client import PrometheusClient, validate_name
from rlscale.sim.params import ServiceParams
from rlscale.sim.presets import load_service, save_service


def calibrate_prometheus(
    url: str,
    namespace: str,
    deployment: str,
    *,
    since_s: float,
    step_s: float,
    base: str | ServiceParams = "web",
    window: str = "1m",
    cpu_limit_cores: float | None = None,
    end_s: float | None = None,
    timeout_s: float = 10.0,
    out: str | os.PathLike[str] | None = None,
    queries: CalibrationQueries | None = None,
) -> CalibrationResult:
    """Fit ``namespace/deployment``'s preset from the last ``since_s`` seconds (ending at
    ``end_s``, default now) and, with ``out``, save it atomically (``rlscale.sim.save_service``).
    Raises ``ValueError`` (``CalibrationDataError`` for missing data) naming the problem."""
    validate_name("namespace", namespace)
    validate_name("deployment", deployment)
    base_params = load_service(base)
    q = queries or CalibrationQueries(window=window)
    source = PrometheusClient(url, timeout_s=timeout_s)
    history = fetch_history(
        source, namespace, deployment, since_s=since_s, step_s=step_s, queries=q, end_s=end_s
    )
    result = fit_service(history, base_params, name=deployment, cpu_limit_cores=cpu_limit_cores)
    if out is not None:
        save_service(result.params, Path(out))
    return result
