"""Run every policy on the same windows, seeds and service, batched (issues 3 and 16).

One simulator batch for every policy × window × seed of a trace (and of other traces as long
as it, see :func:`plan_batches`), each policy acting on its slice (:mod:`rlscale.evaluation.batch`);
no Python loop over envs. Fairness rules:

* **Warm start.** Every env starts with the replicas the oracle's schedule has at step 0,
  ``max(d_0 … d_D)`` (``D`` = the longest start-up in steps): sized for the window's initial
  load, such that even a clairvoyant scaler can hold the SLO from the first step. All
  policies get the same start, so cold starts do not pollute the comparison.
* **Common random numbers.** Poisson arrival counts are drawn *before* the run from a
  generator seeded by ``(base_seed, trace, window, seed)`` and fed to the simulator as exact
  counts (``sim.step(arrival_count=...)``; the latency law still takes the window's rate),
  so every policy sees the very same requests in a given (window, seed). Each new pod's
  start-up delay comes from a counter-based stream keyed by (trace, window, seed), the step
  and the pod (``sim.step(startup_keys=...)``), so an env's numbers never depend on what
  shares its batch.
  Differences between policies are then differences of policy, not of luck, and seeds pair.
* **The oracle.** Demand ``d_t = min_replicas_for_slo(λ_t, params, ORACLE_STEP_VIOLATION)``
  on the window's arrival *rate* (the same for every seed), planned around the longest
  start-up delay with ``plan_oracle_schedule`` and replayed by ``OraclePolicy``. The same
  ``d_t`` is the demand of the SPEC RG elasticity metrics.

Metrics per seed pool every window of the trace (:mod:`rlscale.evaluation.run_metrics`, from
the conventions of :mod:`rlscale.evaluation.metrics`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.evaluation import batch
from rlscale.evaluation.progress import ProgressSink, rich_progress
from rlscale.evaluation.results import PolicyResult, Timeline
from rlscale.evaluation.run_metrics import seed_metrics
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

#: Recorded env-steps per simulator batch (~128 B each, see ``batch.RECORDED_FIELDS``): 8 M is
#: about 1 GB; equally long traces share a batch up to this, a longer trace runs alone.
MAX_BATCH_ENV_STEPS = 8_000_000
#: Batches per worker CPU when a TaskRunner runs them (at least; the memory cap may make
#: more). One: every split adds a batch's per-step cost (~1–3 ms × steps), so narrower batches
#: than the CPUs need cost more than they balance (measured in bench/fleet.py: 4 per CPU ran a
#: 200-service fleet 1.6× slower on 2 cores than one process did).
TASKS_PER_CPU = 1
#: Stream tag of the start-up jitter (the arrivals' streams have four key words, this five).
_JITTER_STREAM = 0x5EED


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
#: Builds one policy for ``len(values)`` envs, env ``i`` with parameter ``values[i]``.
BatchFactory = Callable[[ServiceSpec, np.ndarray], Policy]


@dataclass(frozen=True)
class PolicyEntry:
    """A policy to evaluate: its report label and how to build it for ``num_envs`` envs.

    ``make=None`` with ``oracle=True`` is the clairvoyant oracle (built by the runner, which
    knows the future load). ``frontier_target_pct`` marks one point of the hpa-frontier sweep;
    ``reference_only`` a run that only feeds the tuned-HPA reference (no report row).
    Entries with the same ``batch_key`` differ in one per-env parameter (``batch_value``) and
    run as one policy instance from ``make_batch`` (the HPA sweep: one HPA, a target per env).
    """

    label: str
    make: PolicyFactory | None = None
    oracle: bool = False
    frontier_target_pct: float | None = None
    notes: tuple[str, ...] = field(default=())
    batch_key: str | None = None
    batch_value: float = 0.0
    make_batch: BatchFactory | None = None
    reference_only: bool = False
    #: The SLO budget a budget-taking policy was built for (its row is judged at it alone).
    slo_budget: float | None = None

    def __post_init__(self) -> None:
        if (self.make is None) != self.oracle:
            raise ValueError(f"policy {self.label!r}: give make= for a policy, or oracle=True (and no make)")
        if (self.batch_key is None) != (self.make_batch is None):
            raise ValueError(f"policy {self.label!r}: batch_key and make_batch go together")


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


def _streams(
    trace: EvalTrace, seeds: int, base_seed: int, *tag: int
) -> Iterator[tuple[int, int, np.random.Generator]]:
    """``(window, env, generator)`` per (window, seed) of ``trace``: one independent stream
    each, keyed by (base seed, trace name, window, seed[, tag]), whatever else is evaluated."""
    key = zlib.crc32(trace.name.encode("utf-8"))
    for w in range(trace.windows):
        for s in range(seeds):
            yield w, w * seeds + s, np.random.default_rng([base_seed, key, w, s, *tag])


def arrival_counts(trace: EvalTrace, seeds: int, step_s: float, base_seed: int = 0) -> np.ndarray:
    """Poisson arrival counts ``(W·S, T)``, one independent stream per (trace, window, seed)
    (common random numbers across policies)."""
    out = np.empty((trace.windows * seeds, trace.steps))
    for w, env, rng in _streams(trace, seeds, base_seed):
        out[env] = rng.poisson(trace.rates_rps[w] * step_s)
    return out


def startup_keys(trace: EvalTrace, seeds: int, base_seed: int = 0) -> np.ndarray:
    """One ``uint64`` start-up key per (window, seed), ``(W·S,)``, apart from the arrivals'
    stream: ``sim.step`` derives each new pod's delay from (key, step, pod), so a pod created
    at a given step of a given (window, seed) takes the same delay under every policy and
    whatever else shares the batch."""
    out = np.empty(trace.windows * seeds, dtype=np.uint64)
    for _, env, rng in _streams(trace, seeds, base_seed, _JITTER_STREAM):
        out[env] = rng.bit_generator.random_raw()
    return out


@dataclass(frozen=True)
class _TraceInputs:
    """What every policy replays on one trace: the oracle's demand and plan, the warm start,
    and per env (``w·S + s``) the arrival rates and counts (``(W·S, T)``; counts None without
    Poisson arrivals) and the start-up key."""

    demand: np.ndarray
    schedule: np.ndarray
    initial: np.ndarray
    initial_rate_rps: np.ndarray
    rates_rps: np.ndarray
    counts: np.ndarray | None
    startup_keys: np.ndarray


def _trace_inputs(
    params: ServiceParams, trace: EvalTrace, seeds: int, base_seed: int, oracle_step_violation: float
) -> _TraceInputs:
    demand = oracle_demand(params, trace.rates_rps, oracle_step_violation)  # (W, T)
    schedule = oracle_schedules(params, demand)  # (W, T)
    rates = np.repeat(trace.rates_rps, seeds, axis=0)
    counts = arrival_counts(trace, seeds, params.step_s, base_seed) if params.poisson_arrivals else None
    return _TraceInputs(
        demand=demand,
        schedule=schedule,
        initial=np.repeat(schedule[:, 0], seeds),
        initial_rate_rps=rates[:, 0] if counts is None else counts[:, 0] / params.step_s,
        rates_rps=rates,
        counts=counts,
        startup_keys=startup_keys(trace, seeds, base_seed),
    )


def _result(
    params: ServiceParams,
    trace: EvalTrace,
    entry: PolicyEntry,
    seeds: int,
    inputs: _TraceInputs,
    stacked: sim.StepMetrics,
) -> PolicyResult:
    """One policy on one trace from its ``(T, W·S)`` columns of the batch."""
    W, T = trace.windows, trace.steps
    per_seed = seed_metrics(params, stacked, inputs.demand, trace.valid, inputs.initial, W, seeds)
    timeline = Timeline(
        time_s=np.arange(T) * params.step_s,
        arrival_rate_rps=trace.rates_rps[0].copy(),
        demand_replicas=inputs.demand[0].astype(np.float64),
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


def run_traces(
    params: ServiceParams,
    traces: list[EvalTrace],
    entries: list[PolicyEntry],
    seeds: int,
    *,
    base_seed: int = 0,
    oracle_step_violation: float = ORACLE_STEP_VIOLATION,
    progress: ProgressSink | None = None,
) -> list[PolicyResult]:
    """Every entry on every window × seed of equally long ``traces`` in one simulator batch
    (:mod:`rlscale.evaluation.batch`); results trace-major, in input order."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if not traces or not entries:
        raise ValueError("run_traces: need at least one trace and one policy")
    if len({t.steps for t in traces}) != 1:
        raise ValueError(f"run_traces: traces differ in length {sorted({t.steps for t in traces})}")
    inputs = [_trace_inputs(params, t, seeds, base_seed, oracle_step_violation) for t in traces]
    sizes = [t.windows * seeds for t in traces]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    block = int(offsets[-1])
    oracle_plan = np.concatenate([np.repeat(i.schedule, seeds, axis=0) for i in inputs])
    groups, slot = _policy_groups(params.spec, entries, block, oracle_plan)
    recorder = batch.run_batch(
        params,
        groups,
        np.ascontiguousarray(np.concatenate([i.rates_rps for i in inputs]).T),
        np.concatenate([i.initial for i in inputs]),
        arrival_counts=None
        if inputs[0].counts is None
        else np.ascontiguousarray(np.concatenate([i.counts for i in inputs if i.counts is not None]).T),
        startup_keys=np.concatenate([i.startup_keys for i in inputs]),
        initial_rate_rps=np.concatenate([i.initial_rate_rps for i in inputs]),
        progress=progress,
    )
    results: list[PolicyResult] = []
    for k, trace in enumerate(traces):
        for p, entry in enumerate(entries):
            lo = slot[p] * block + int(offsets[k])
            stacked = recorder.select(lo, lo + sizes[k])
            results.append(_result(params, trace, entry, seeds, inputs[k], stacked))
    return results


def merge_groups(entries: list[PolicyEntry]) -> list[list[int]]:
    """Entry indices that run as one policy instance: those sharing a ``batch_key``, else one
    each (in order of first appearance)."""
    members: dict[str | int, list[int]] = {}
    for p, e in enumerate(entries):
        members.setdefault(e.batch_key if e.batch_key is not None else p, []).append(p)
    return list(members.values())


def _policy_groups(
    spec: ServiceSpec, entries: list[PolicyEntry], block: int, oracle_plan: np.ndarray
) -> tuple[list[batch.PolicyGroup], list[int]]:
    """One policy instance per entry, or per set of entries sharing a ``batch_key`` (their
    blocks made adjacent); returns the groups and each entry's block index in the batch."""
    groups: list[batch.PolicyGroup] = []
    slot = [0] * len(entries)
    start = 0
    for idx in merge_groups(entries):
        first = entries[idx[0]]
        n = len(idx) * block
        policy: Policy
        if first.oracle:
            policy = OraclePolicy(spec, n, oracle_plan)
        elif len(idx) > 1:
            assert first.make_batch is not None
            policy = first.make_batch(spec, np.repeat([entries[p].batch_value for p in idx], block))
        else:
            assert first.make is not None
            policy = first.make(spec, n)
        for j, p in enumerate(idx):
            slot[p] = start // block + j
        groups.append(batch.PolicyGroup(policy, start, start + n))
        start += n
    return groups, slot


def run_policy(
    params: ServiceParams,
    trace: EvalTrace,
    entry: PolicyEntry,
    seeds: int,
    *,
    base_seed: int = 0,
    oracle_step_violation: float = ORACLE_STEP_VIOLATION,
    progress: ProgressSink | None = None,
) -> PolicyResult:
    """One policy alone on every window × seed of ``trace`` (a batch of one policy)."""
    return run_traces(
        params,
        [trace],
        [entry],
        seeds,
        base_seed=base_seed,
        oracle_step_violation=oracle_step_violation,
        progress=progress,
    )[0]


class TaskRunner(Protocol):
    """Runs batch tasks elsewhere (``rlscale.evaluation.distributed.RayTaskRunner``):
    ``map(calls, sizes, advance)`` calls :func:`run_traces` with each ``(args, kwargs)`` and
    returns the results in call order, calling ``advance(sizes[i])`` as call ``i`` finishes."""

    parallelism: int

    def map(
        self,
        calls: list[tuple[tuple[object, ...], dict[str, object]]],
        sizes: list[int],
        advance: Callable[[int], None],
    ) -> list[list[PolicyResult]]: ...


@dataclass(frozen=True)
class BatchTask:
    """One simulator batch: these traces × these entries (indices into :func:`evaluate`'s lists)."""

    traces: tuple[int, ...]
    entries: tuple[int, ...]


def plan_tasks(
    traces: list[EvalTrace], entries: list[PolicyEntry], seeds: int, min_tasks: int = 1
) -> list[BatchTask]:
    """The batches of an evaluation: equally long traces together (:func:`plan_batches`), a
    long trace's policies split (:func:`entry_chunks`); with ``min_tasks`` workers to feed, at
    most ``ceil(traces / min_tasks)`` traces per batch and, still short, one batch per policy
    group. Any split gives the same numbers (envs never depend on their batch)."""
    per_batch = -(-len(traces) // max(1, min_tasks))
    tasks: list[BatchTask] = []
    for idx in plan_batches(traces, len(entries), seeds):
        for k in range(0, len(idx), per_batch):
            part_traces = idx[k : k + per_batch]
            env_steps = sum(traces[i].steps * traces[i].windows for i in part_traces) * seeds
            tasks += [BatchTask(tuple(part_traces), tuple(c)) for c in entry_chunks(entries, env_steps)]
    if len(tasks) < min_tasks:
        tasks = [
            BatchTask(t.traces, tuple(t.entries[g] for g in group))
            for t in tasks
            for group in entry_chunks([entries[p] for p in t.entries], 0, max_env_steps=0)
        ]
    return tasks


def evaluate(
    params: ServiceParams,
    traces: list[EvalTrace],
    entries: list[PolicyEntry],
    seeds: int,
    *,
    base_seed: int = 0,
    oracle_step_violation: float = ORACLE_STEP_VIOLATION,
    progress: bool = False,
    runner: TaskRunner | None = None,
) -> list[PolicyResult]:
    """Every policy on every trace (same windows, seeds, arrivals); results in input order
    (trace-major). The batches (:func:`plan_tasks`) run here one after the other, or on
    ``runner``'s workers; the numbers are the same either way."""
    if not entries:
        raise ValueError("evaluate: no policy to run")
    total = sum(t.steps * t.windows for t in traces) * seeds * len(entries)
    tasks = plan_tasks(
        traces, entries, seeds, min_tasks=1 if runner is None else TASKS_PER_CPU * runner.parallelism
    )
    common = {"base_seed": base_seed, "oracle_step_violation": oracle_step_violation}
    calls = [
        ((params, [traces[i] for i in t.traces], [entries[p] for p in t.entries], seeds), common)
        for t in tasks
    ]
    sizes = [
        sum(traces[i].steps * traces[i].windows for i in t.traces) * seeds * len(t.entries) for t in tasks
    ]
    with rich_progress(total, progress) as sink_for:
        if runner is None:
            outs = []
            for t, (args, kw) in zip(tasks, calls, strict=True):
                names = ", ".join(traces[i].name for i in t.traces[:3]) + (" …" if len(t.traces) > 3 else "")
                outs.append(
                    run_traces(*args, **kw, progress=sink_for(f"{len(t.entries)} policies on {names}"))
                )
        else:
            outs = runner.map(calls, sizes, sink_for(f"{len(tasks)} tasks on {runner.parallelism} Ray CPUs"))
    done: dict[tuple[int, int], PolicyResult] = {}
    for t, out in zip(tasks, outs, strict=True):
        done.update(zip([(i, p) for i in t.traces for p in t.entries], out, strict=True))
    return [done[(i, p)] for i in range(len(traces)) for p in range(len(entries))]


def entry_chunks(
    entries: list[PolicyEntry], env_steps_per_entry: int, max_env_steps: int | None = None
) -> list[list[int]]:
    """Entry indices per batch when one trace's batch would pass ``max_env_steps`` (default
    :data:`MAX_BATCH_ENV_STEPS`; a 60-day trace): entries that merge into one policy
    (``batch_key``) stay together (``max_env_steps=0``: one chunk per such group)."""
    cap = MAX_BATCH_ENV_STEPS if max_env_steps is None else max_env_steps
    out: list[list[int]] = [[]]
    for members in merge_groups(entries):
        if out[-1] and (len(out[-1]) + len(members)) * env_steps_per_entry >= cap:
            out.append([])
        out[-1].extend(members)
    return out


def plan_batches(traces: list[EvalTrace], policies: int, seeds: int) -> list[list[int]]:
    """Trace indices per simulator batch: equally long traces together, in input order, up
    to :data:`MAX_BATCH_ENV_STEPS` recorded env-steps per batch (a longer trace runs alone)."""
    out: list[list[int]] = []
    open_batch: dict[int, tuple[list[int], int]] = {}
    for i, t in enumerate(traces):
        size = t.steps * t.windows * seeds * policies
        idx, used = open_batch.get(t.steps, ([], 0))
        if idx and used + size > MAX_BATCH_ENV_STEPS:
            out.append(idx)
            idx, used = [], 0
        open_batch[t.steps] = ([*idx, i], used + size)
    out += [idx for idx, _ in open_batch.values()]
    return sorted(out)
