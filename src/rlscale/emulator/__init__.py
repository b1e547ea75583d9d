"""An emulated Kubernetes cluster for tests and demos where no real cluster can run.

It serves the REST paths the controller, kopf and the tests use (discovery, apps/v1
deployments and their scale subresource, pods, events, leases, CRDs and ``RLAutoscaler``
custom resources with list and watch), drives each Deployment's pods from the simulator's
service model in real time, and exports cAdvisor/kube-state-metrics style metrics on
``/metrics`` for a real Prometheus to scrape. See docs/live.md.
"""

from rlscale.emulator.cluster import Cluster
from rlscale.emulator.faults import Fault, FaultInjector
from rlscale.emulator.server import Emulator, write_kubeconfig
from rlscale.emulator.services import (
    EmulatedService,
    LoadCurve,
    constant_load,
    fast_params,
    resolve_params,
    rise_and_fall_load,
    trace_load,
)

__all__ = [
    "Cluster",
    "EmulatedService",
    "Emulator",
    "Fault",
    "FaultInjector",
    "LoadCurve",
    "constant_load",
    "fast_params",
    "resolve_params",
    "rise_and_fall_load",
    "trace_load",
    "write_kubeconfig",
]
