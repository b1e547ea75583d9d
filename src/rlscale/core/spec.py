"""What a scaler knows about the service it scales, offline and live alike."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from rlscale.core.kubernetes_defaults import HPA_SYNC_PERIOD_S
from rlscale.core.time_steps import seconds_to_steps

#: Every numeric field of a ServiceSpec (all must be finite numbers).
_NUMBER_FIELDS = (
    "pod_capacity_rps",
    "slo_latency_s",
    "min_replicas",
    "max_replicas",
    "step_s",
    "startup_delay_s",
    "cpu_request_cores",
    "memory_request_gib",
    "slo_budget",
)


#: The common SRE error budget for a 99 % latency objective (Google SRE Workbook, ch. 2): the
#: default everywhere a budget is not given (ServiceSpec, the CRD, ``rlscale run``/``serve``).
DEFAULT_SLO_BUDGET = 0.01
#: The service preset every command uses without ``--service`` (``sim.presets``: TeaStore's
#: webui, calibrated to the measured data). Here, in core, so that ``--help`` reads it without
#: importing the simulator.
DEFAULT_SERVICE = "web"
#: Seconds from pod creation to Ready when not measured: the middle of the 30-60 s start-up
#: range (DESIGN.md §3); ServiceSpec's, the CRD's and ``rlscale run``/``serve``'s default.
DEFAULT_STARTUP_DELAY_S = 45.0
#: Requests/s one pod sustains when the live commands are not told (the CRD's and the flags' default).
DEFAULT_POD_CAPACITY_RPS = 10.0


@dataclass(frozen=True)
class ServiceSpec:
    """Static facts about one scaled service, shared by the simulator presets, the
    policies and the live controller (where they come from flags or the custom resource).

    ``pod_capacity_rps`` is the request rate one ready pod sustains at its CPU limit; it is
    the unit the scale-free observations are expressed in.

    The SLO is the user's input (DESIGN.md §7): at most ``slo_budget`` of the requests may
    take longer than ``slo_latency_s`` (or be dropped); default :data:`DEFAULT_SLO_BUDGET`.
    """

    name: str
    pod_capacity_rps: float
    slo_latency_s: float
    min_replicas: int = 1
    max_replicas: int = 20
    step_s: float = HPA_SYNC_PERIOD_S
    startup_delay_s: float = DEFAULT_STARTUP_DELAY_S
    cpu_request_cores: float = 1.0
    memory_request_gib: float = 1.0
    slo_budget: float = DEFAULT_SLO_BUDGET

    def __post_init__(self) -> None:
        for name in _NUMBER_FIELDS:  # NaN passes every comparison below, inf breaks costs and counts
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise ValueError(f"ServiceSpec {self.name!r}: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"ServiceSpec {self.name!r}: {name} must be a finite number, got {value}")
        for name in ("min_replicas", "max_replicas"):  # 2.5 pods is no count; 2.0 from JSON is 2
            value = getattr(self, name)
            if value != int(value):
                raise ValueError(f"ServiceSpec {self.name!r}: {name} must be an integer, got {value}")
            object.__setattr__(self, name, int(value))
        if not self.pod_capacity_rps > 0:
            raise ValueError(
                f"ServiceSpec {self.name!r}: pod_capacity_rps must be > 0, got {self.pod_capacity_rps}"
            )
        if not self.slo_latency_s > 0:
            raise ValueError(
                f"ServiceSpec {self.name!r}: slo_latency_s must be > 0, got {self.slo_latency_s}"
            )
        if not 0 < self.slo_budget < 1:
            raise ValueError(
                f"ServiceSpec {self.name!r}: slo_budget must be a fraction in (0, 1), got {self.slo_budget}"
            )
        if not (0 <= self.min_replicas <= self.max_replicas and self.max_replicas >= 1):
            raise ValueError(
                f"ServiceSpec {self.name!r}: need 0 <= min_replicas <= max_replicas and max_replicas >= 1 "
                f"(the HPA's rule), got {self.min_replicas}..{self.max_replicas}"
            )
        if self.cpu_request_cores < 0 or self.memory_request_gib < 0:
            raise ValueError(
                f"ServiceSpec {self.name!r}: cpu_request_cores and memory_request_gib must be >= 0, "
                f"got {self.cpu_request_cores}, {self.memory_request_gib}"
            )
        if not self.step_s > 0:
            raise ValueError(f"ServiceSpec {self.name!r}: step_s must be > 0, got {self.step_s}")
        if not self.startup_delay_s >= 0:
            raise ValueError(
                f"ServiceSpec {self.name!r}: startup_delay_s must be >= 0, got {self.startup_delay_s}"
            )

    @property
    def startup_delay_steps(self) -> int:
        """Whole decision periods until a created pod serves (rounded up: a pod ready in the
        middle of a period is counted from the next one)."""
        return seconds_to_steps(self.startup_delay_s, self.step_s)

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)
