"""The in-memory outcome of an evaluation: what the runner hands the report writer.

Kept separate from the runner so the report, the frontier scoring and their tests can be
built on hand-made results without running the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Per-seed metrics every :class:`PolicyResult` carries, in report order, with their units.
METRIC_UNITS: dict[str, str] = {
    "slo_violation_rate": "fraction of offered requests over the SLO or dropped",
    "p50_latency_s": "s",
    "p95_latency_s": "s",
    "p99_latency_s": "s",
    "pod_hours": "pod-h (pending pods included: they are billed from creation)",
    "cpu_core_hours": "requested core-h",
    "cost_usd": "USD (kubecost prices)",
    "avg_replicas": "ready replicas, time mean",
    "scaling_actions_per_hour": "changes of the desired replica count per hour",
    "theta_u": "% (SPEC RG under-provisioning accuracy)",
    "theta_o": "% (SPEC RG over-provisioning accuracy)",
    "tau_u": "% of time under-provisioned",
    "tau_o": "% of time over-provisioned",
    "instability": "% of steps where supply and demand move differently",
    "jitter": "supply minus demand adaptations per hour",
    "offered_requests": "requests offered (identical across policies: common random numbers)",
}
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_UNITS)

#: Scores read against the HPA frontier and the oracle (issue 3).
SCORE_KEYS: tuple[str, ...] = ("cost_vs_hpa_frontier", "cost_vs_oracle", "hpa_oracle_gap_closed")


@dataclass
class Timeline:
    """One (window, seed) run of one policy, for the timeline plot."""

    time_s: np.ndarray
    arrival_rate_rps: np.ndarray
    demand_replicas: np.ndarray
    ready_replicas: np.ndarray
    desired_replicas: np.ndarray
    latency_p95_s: np.ndarray
    latency_mean_s: np.ndarray | None = None


@dataclass
class PolicyResult:
    """One policy on one trace: per-seed metric values (each an array of shape ``(seeds,)``,
    pooled over the trace's windows), an optional timeline and notes."""

    policy: str
    trace: str
    per_seed: dict[str, np.ndarray]
    windows: int = 1
    steps_per_window: int = 0
    timeline: Timeline | None = None
    notes: list[str] = field(default_factory=list)
    #: The HPA target (percent) when this run is one point of the hpa-frontier sweep.
    frontier_target_pct: float | None = None
    #: A run of the tuned-HPA reference sweep only (evaluation.budget): no report row.
    reference_only: bool = False
    #: The budget a budget-taking policy was built for (None: judged at every budget).
    slo_budget: float | None = None

    def __post_init__(self) -> None:
        missing = set(METRIC_KEYS) - set(self.per_seed)
        if missing:
            raise ValueError(
                f"PolicyResult {self.policy!r}/{self.trace!r}: missing metrics {sorted(missing)}"
            )
        sizes = {np.size(v) for v in self.per_seed.values()}
        if len(sizes) != 1:
            raise ValueError(
                f"PolicyResult {self.policy!r}: per-seed arrays differ in length {sorted(sizes)}"
            )
        self.per_seed = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in self.per_seed.items()}

    @property
    def seeds(self) -> int:
        return int(next(iter(self.per_seed.values())).size)

    def mean(self, key: str) -> float:
        return float(np.mean(self.per_seed[key]))
