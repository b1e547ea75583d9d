"""Reading Prometheus, shared by the live controller and calibration: the HTTP API client
(:mod:`~rlscale.prometheus.client`) and PromQL templates (:mod:`~rlscale.prometheus.promql`)."""
