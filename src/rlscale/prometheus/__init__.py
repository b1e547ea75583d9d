"""Reading Prometheus: the HTTP API client shared by the live controller and calibration."""
