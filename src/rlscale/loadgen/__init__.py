"""Load generation for live demos and tests: open-loop replay of a trace against any HTTP
endpoint (:mod:`rlscale.loadgen.replay`, locust as a library). Not part of the autoscaler:
the live controller never imports it."""
