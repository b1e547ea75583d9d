"""Run every policy on the same windows, seeds and service, batched (issue 3 item 3).

One simulator batch per (policy, trace): ``num_envs = windows × seeds``, env ``i = w·S + s``,
no Python loop over envs. Fairness rules:

* **Warm start.** Every env starts with the replicas the oracle's schedule has at step 0,
  ``max(d_0 … d_D)`` (``D`` = the longest start-up in steps): sized for the window's initial
  load, such that even a clairvoyant scaler can hold the SLO from the first step. All
  policies get the same start, so cold starts do not pollute the comparison.
* **Common random numbers.** Poisson arrival counts are drawn *before* the run from a
  generator seeded by ``(base_seed, trace, window, seed)`` and fed to the simulator as exact
  counts (``sim.step(arrival_count=...)``; the latency law still takes the window's rate),
  so every policy sees the very same requests in a given (window, seed). The start-up jitter
  has its own stream.
  Differences between policies are then differences of policy, not of luck, and seeds pair.
* **The oracle.** Demand ``d_t = min_replicas_for_slo(λ_t, params, ORACLE_STEP_VIOLATION)``
  on the window's arrival *rate* (the same for every seed), planned around the longest
  start-up delay with ``plan_oracle_schedule`` and replayed by ``OraclePolicy``. The same
  ``d_t`` is the demand of the SPEC RG elasticity metrics.

Metrics per seed pool every window of the trace (see :mod:`rlscale.evaluation.metrics`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.evaluation import metrics as m
from rlscale.evaluation.results import PolicyResult, Timeline
from rlscale.policies.base import Policy
from rlscale.policies.oracle import OraclePolicy, plan_oracle_schedule
from rlscale.sim import queueing
from rlscale.sim import simulator as sim
from rlscale.sim.params import ServiceParams

#: Per-step share of requests the oracle's demand may let exceed the SLO (M/M/c at the
#: step's mean rate). 0.1 %: with integer replicas and Poisson fluctuation around the mean,
#: the realised run-level violation rate stays well under 1 % (measured 0.004 % on the
#: default NASA windows, ~0.01 % on a steep synthetic periodic trace; docs/evaluation.md),
#: while the demand stays a tight lower bound on cost.
ORACLE_STEP_VIOLATION = 0.001

#: Latency quantiles reported per run.
QUANTILES: dict[str, float] = {"p50_latency_s": 0.50, "p95_latency_s": 0.95, "p99_latency_s": 0.99}


class ProgressSink(Protocol):
    def __call__(self, steps: int) -> None: ...


@dataclass(frozen=True)
class EvalTrace:
    """The windows of one trace as the simulator will see them.

    ``rates_rps``: ``(W, T)`` arrival rate per step (req/s, already rescaled to the service);
    ``valid``: ``(W, T)`` mask, False on steps that are gaps in the data (their load runs
    through the simulator, but they are left out of every metric).
    """

    name: str
    rates_rps: np.ndarray
    valid: np.ndarray | None = None
    start_offsets_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        r = np.asarray(self.rates_rps, dtype=np.float64)
        if r.ndim == 1:
            r = r[None, :]
        if r.ndim != 2 or r.shape[1] < 1:
            raise ValueError(f"trace {self.name!r}: rates must be (windows, steps), got shape {r.shape}")
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            raise ValueError(f"trace {self.name!r}: rates must be finite and >= 0")
        v = (
            np.ones(r.shape, dtype=bool)
            if self.valid is None
            else np.asarray(self.valid, dtype=bool).reshape(r.shape)
        )
        if not v.any():
            raise ValueError(f"trace {self.name!r}: no valid step to evaluate")
        object.__setattr__(self, "rates_rps", r)
        object.__setattr__(self, "valid", v)
        offsets = (
            np.zeros(r.shape[0])
            if self.start_offsets_s is None
            else np.asarray(self.start_offsets_s, dtype=np.float64)
        )
        object.__setattr__(self, "start_offsets_s", offsets)

    @property
    def windows(self) -> int:
        return int(self.rates_rps.shape[0])

    @property
    def steps(self) -> int:
        return int(self.rates_rps.shape[1])


PolicyFactory = Callable[[ServiceSpec, int], Policy]


@dataclass(frozen=True)
class PolicyEntry:
    """A policy to evaluate: its report label and how to build it for ``num_envs`` envs.

    ``make=None`` with ``oracle=True`` is the clairvoyant oracle (built by the runner, which
    knows the future load). ``frontier_target_pct`` marks one point of the hpa-frontier sweep;
    ``reference_only`` a run that only feeds the tuned-HPA reference (no report row).
    """

    label: str
    make: PolicyFactory | None = None
    oracle: bool = False
    frontier_target_pct: float | None = None
    notes: tuple[str, ...] = field(default=())
    reference_only: bool = False
    #: The SLO budget a budget-taking policy was built for (its row is judged at it alone).
    slo_budget: float | None = None

    def __post_init__(self) -> None:
        if (self.make is None) != self.oracle:
            raise ValueError(f"policy {self.label!r}: give make= for a policy, or oracle=True (and no make)")


def oracle_demand(
    params: ServiceParams, rates_rps: np.ndarray, step_violation: float = ORACLE_STEP_VIOLATION
) -> np.ndarray:
    """``d_t``: the fewest ready replicas meeting the SLO at each step's rate (int64, same
    shape as ``rates_rps``), capped at ``max_replicas``."""
    return queueing.min_replicas_for_slo(
        rates_rps, params, step_violation, max_replicas=params.spec.max_replicas
    ).astype(np.int64)


def oracle_schedules(params: ServiceParams, demand: np.ndarray) -> np.ndarray:
    """The oracle's desired-replica schedule per window (``(W, T)`` int64), planned around
    the *longest* start-up delay so it holds for every jitter draw."""
    spec = params.spec
    startup = params.max_startup_steps()
    return np.stack(
        [
            plan_oracle_schedule(d, startup, spec.min_replicas, spec.max_replicas)
            for d in np.atleast_2d(demand)
        ]
    )


def arrival_counts(trace: EvalTrace, seeds: int, step_s: float, base_seed: int = 0) -> np.ndarray:
    """Poisson arrival counts ``(W·S, T)``, one independent stream per (trace, window, seed)
    (common random numbers across policies)."""
    key = zlib.crc32(trace.name.encode("utf-8"))
    out = np.empty((trace.windows * seeds, trace.steps))
    for w in range(trace.windows):
        lam = trace.rates_rps[w] * step_s
        for s in range(seeds):
            rng = np.random.default_rng([base_seed, key, w, s])
            out[w * seeds + s] = rng.poisson(lam)
    return out


def _seed_metrics(
    params: ServiceParams,
    stacked: sim.StepMetrics,
    demand: np.ndarray,
    valid: np.ndarray,
    initial: np.ndarray,
    windows: int,
    seeds: int,
) -> dict[str, np.ndarray]:
    """Per-seed metrics pooled over windows. ``stacked`` fields are ``(T, W·S)``."""
    step_s = params.step_s
    t_len = demand.shape[1]

    def arr(name: str) -> np.ndarray:  # (T, W, S)
        return np.asarray(getattr(stacked, name), dtype=np.float64).reshape(t_len, windows, seeds)

    mask = valid.T[:, :, None]  # (T, W, 1)
    vmask = np.broadcast_to(mask, (t_len, windows, seeds))
    out: dict[str, np.ndarray] = {}
    offered = arr("offered") * mask
    out["offered_requests"] = offered.sum(axis=(0, 1))
    out["slo_violation_rate"] = np.asarray(
        m.slo_violation_rate(arr("violating") * mask, arr("dropped") * mask, offered, axis=(0, 1))
    )
    # run-level latency quantiles: served-weighted mixture over every valid step of every window
    # (all levels in one bisection: a size-1 axis for the level)
    served = (arr("served") * mask).reshape(t_len * windows, 1, seeds)
    lat = sim.StepMetrics(
        **{
            name: np.asarray(getattr(stacked, name)).reshape(t_len * windows, 1, seeds)
            if name.startswith("lat_")
            else np.zeros(1)
            for name in sim.StepMetrics.field_names()
        }
    )
    levels = np.array(list(QUANTILES.values()))[:, None]
    quant = m.mixture_quantile(
        levels,
        lambda x: sim.latency_survival(x, lat, params),
        served,
        batch_shape=(len(QUANTILES), seeds),
    )
    for i, key in enumerate(QUANTILES):
        out[key] = quant[i]
    out["pod_hours"] = np.asarray(m.hours((arr("pod_seconds") * mask).reshape(-1, seeds), axis=0))
    out["cpu_core_hours"] = np.asarray(m.hours((arr("cpu_core_seconds") * mask).reshape(-1, seeds), axis=0))
    out["cost_usd"] = (arr("cost_usd") * mask).sum(axis=(0, 1))
    valid_steps = vmask.sum(axis=(0, 1))
    out["avg_replicas"] = (arr("ready") * mask).sum(axis=(0, 1)) / valid_steps
    # scaling actions: changes of the desired count (the initial count counts as step −1)
    desired = arr("desired")
    prev = np.concatenate(
        [np.broadcast_to(initial.reshape(1, windows, seeds), (1, windows, seeds)), desired[:-1]]
    )
    changes = ((desired != prev) & vmask).sum(axis=(0, 1))
    valid_hours = valid_steps * step_s / m.SECONDS_PER_HOUR
    out["scaling_actions_per_hour"] = changes / valid_hours
    # SPEC RG elasticity against the oracle's demand, per window over its valid steps
    ready = arr("ready")
    acc = {k: np.zeros(seeds) for k in ("theta_u", "theta_o", "tau_u", "tau_o", "instability", "jitter")}
    weight_total = 0.0
    for w in range(windows):
        idx = valid[w]
        n_valid = int(idx.sum())
        if n_valid == 0:
            continue
        d = np.broadcast_to(demand[w, idx][:, None], (n_valid, seeds))
        e = m.elasticity(d, ready[idx, w, :], step_s)
        acc["theta_u"] += n_valid * e.theta_u
        acc["theta_o"] += n_valid * e.theta_o
        acc["tau_u"] += n_valid * e.tau_u
        acc["tau_o"] += n_valid * e.tau_o
        acc["instability"] += n_valid * e.instability
        acc["jitter"] += n_valid * e.jitter_per_hour
        weight_total += n_valid
    for k, v in acc.items():
        out[k] = v / weight_total
    return out


def run_policy(
    params: ServiceParams,
    trace: EvalTrace,
    entry: PolicyEntry,
    seeds: int,
    *,
    base_seed: int = 0,
    oracle_step_violation: float = ORACLE_STEP_VIOLATION,
    counts: np.ndarray | None = None,
    progress: ProgressSink | None = None,
) -> PolicyResult:
    """One policy on every window × seed of ``trace`` in one batch; returns per-seed metrics."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    spec = params.spec
    step_s = params.step_s
    W, T = trace.windows, trace.steps
    n = W * seeds
    demand = oracle_demand(params, trace.rates_rps, oracle_step_violation)  # (W, T)
    schedule = oracle_schedules(params, demand)  # (W, T)
    initial = np.repeat(schedule[:, 0], seeds)  # (n,)
    rates_env = np.repeat(trace.rates_rps, seeds, axis=0)
    initial_rate = rates_env[:, 0]
    if not params.poisson_arrivals:
        counts = None
    elif counts is None:
        counts = arrival_counts(trace, seeds, step_s, base_seed)
    if counts is not None:
        if counts.shape != (n, T):
            raise ValueError(f"arrival counts have shape {counts.shape}, expected {(n, T)}")
        initial_rate = counts[:, 0] / step_s
    if entry.oracle:
        policy: Policy = OraclePolicy(spec, n, np.repeat(schedule, seeds, axis=0))
    else:
        assert entry.make is not None
        policy = entry.make(spec, n)
        if int(policy.num_envs) != n:
            raise ValueError(f"policy {entry.label!r} was built for {policy.num_envs} envs, expected {n}")
    policy.reset(None)
    jitter_rng = np.random.default_rng([base_seed, 0x5EED])
    state = sim.init_state(params, n, initial, jitter_rng, initial_rate_rps=initial_rate)
    steps: list[sim.StepMetrics] = []
    report_every = 200
    for t in range(T):
        desired = policy.act(sim.signals(params, state))
        state, step_metrics = sim.step(
            params,
            state,
            rates_env[:, t],
            desired,
            jitter_rng,
            arrival_count=None if counts is None else counts[:, t],
        )
        steps.append(step_metrics)
        if progress is not None and (t + 1) % report_every == 0:
            progress(report_every)
    if progress is not None and T % report_every:
        progress(T % report_every)
    stacked = sim.StepMetrics.stack(steps)
    per_seed = _seed_metrics(params, stacked, demand, trace.valid, initial, W, seeds)
    timeline = Timeline(
        time_s=np.arange(T) * step_s,
        arrival_rate_rps=trace.rates_rps[0].copy(),
        demand_replicas=demand[0].astype(np.float64),
        ready_replicas=np.asarray(stacked.ready[:, 0], dtype=np.float64),
        desired_replicas=np.asarray(stacked.desired[:, 0], dtype=np.float64),
        latency_p95_s=np.asarray(stacked.latency_p95_s[:, 0], dtype=np.float64),
        latency_mean_s=np.asarray(stacked.latency_mean_s[:, 0], dtype=np.float64),
    )
    notes = list(entry.notes)
    if not trace.valid.all():
        notes.append(f"{int((~trace.valid).sum())} gap steps simulated but excluded from the metrics")
    return PolicyResult(
        policy=entry.label,
        trace=trace.name,
        per_seed=per_seed,
        windows=W,
        steps_per_window=T,
        timeline=timeline,
        notes=notes,
        frontier_target_pct=entry.frontier_target_pct,
        reference_only=entry.reference_only,
        slo_budget=entry.slo_budget,
    )


@contextmanager
def _rich_progress(total_steps: int, enabled: bool) -> Iterator[Callable[[str], ProgressSink]]:
    if not enabled:
        yield lambda label: lambda steps: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(  # on stderr, so `--json` keeps stdout clean
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("evaluating", total=total_steps)

        def sink_for(label: str) -> ProgressSink:
            bar.update(task, description=label)
            return lambda steps: bar.advance(task, steps)

        yield sink_for


def evaluate(
    params: ServiceParams,
    traces: list[EvalTrace],
    entries: list[PolicyEntry],
    seeds: int,
    *,
    base_seed: int = 0,
    oracle_step_violation: float = ORACLE_STEP_VIOLATION,
    progress: bool = False,
) -> list[PolicyResult]:
    """Every policy on every trace (same windows, seeds, arrivals); results in input order."""
    if not entries:
        raise ValueError("evaluate: no policy to run")
    total = sum(t.steps for t in traces) * len(entries)
    results: list[PolicyResult] = []
    with _rich_progress(total, progress) as sink_for:
        for trace in traces:
            counts = (
                arrival_counts(trace, seeds, params.step_s, base_seed) if params.poisson_arrivals else None
            )
            for entry in entries:
                results.append(
                    run_policy(
                        params,
                        trace,
                        entry,
                        seeds,
                        base_seed=base_seed,
                        oracle_step_violation=oracle_step_violation,
                        counts=counts,
                        progress=sink_for(f"{entry.label} on {trace.name}"),
                    )
                )
    return results
