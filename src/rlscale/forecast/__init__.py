"""Load forecasting: seed 000's LSTM (trained offline on training windows, blended with the
trend) and the baselines it is measured against (seasonal-naive, Holt-Winters)."""

from rlscale.forecast.baselines import (
    HoltWinters,
    fit_holt_winters,
    horizon_mean_target,
    last_value,
    seasonal_naive,
)

__all__ = ["HoltWinters", "fit_holt_winters", "horizon_mean_target", "last_value", "seasonal_naive"]
