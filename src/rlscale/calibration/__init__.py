"""rlscale.calibration: fit service presets to measured data and Prometheus history."""

from rlscale.calibration.fit import CalibrationResult, FittedParameter, fit_service, startup_lags
from rlscale.calibration.history import (
    CalibrationDataError,
    CalibrationQueries,
    History,
    fetch_history,
    parse_duration_s,
)
from rlscale.calibration.prometheus import calibrate_prometheus

__all__ = [
    "CalibrationDataError",
    "CalibrationQueries",
    "CalibrationResult",
    "FittedParameter",
    "History",
    "calibrate_prometheus",
    "fetch_history",
    "fit_service",
    "parse_duration_s",
    "startup_lags",
]
