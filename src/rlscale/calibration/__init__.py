"""rlscale.calibration: fit service presets to measured data and Prometheus history."""
