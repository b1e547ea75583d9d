"""The whole ``rlscale evaluate`` job as a library call: validate every input, run, report.

Validation happens entirely before the first simulated step (service, policy specs, traces
loaded and cut), so bad input costs nothing and leaves nothing behind. The CLI is a thin
wrapper around :func:`prepare_job` and :func:`run_and_write`, for every service (``pools``
too: :class:`PreparedPools`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlscale.core.settings import ConfigError, command_args
from rlscale.evaluation.budget import check_budgets, reference_specs
from rlscale.evaluation.evaluate_config import (
    DEFAULT_TRACE,
    DEFAULT_WINDOW_HOURS,
    DEFAULT_WINDOWS,
)
from rlscale.evaluation.evaluate_config import EvaluateConfig as EvaluateConfig  # re-exported: its old home
from rlscale.evaluation.fleet import fleet_summary
from rlscale.evaluation.pools import (
    DEFAULT_POOLS_POLICIES,
    PATTERNS,
    POOLS_SERVICE,
    PoolsEvalConfig,
    check_pools_config,
    evaluate_pools,
    write_pools_report,
)
from rlscale.evaluation.report import build_report, write_report
from rlscale.evaluation.results import PolicyResult
from rlscale.evaluation.runner import EvalTrace, PolicyEntry, TaskRunner, evaluate
from rlscale.evaluation.specs import DEFAULT_POLICIES, resolve_policies
from rlscale.evaluation.traces import CHUNK_LEAD_HOURS, expand_trace_arguments, prepare_trace, sidecar_path
from rlscale.policies.registry import PolicySpecError, parse_policy_spec
from rlscale.sim import pools as ps
from rlscale.sim.params import ServiceParams
from rlscale.sim.presets import load_service
from rlscale.workload.trace import TraceError


class EvaluationInputError(ValueError):
    """A bad argument (service, policy spec, trace, count); the message says which."""


@dataclass
class ServiceGroup:
    """The traces that share one service model (``--service``, or one ``NAME.service.json``
    sidecar) and the policies built for its spec."""

    label: str
    params: ServiceParams
    entries: list[PolicyEntry]
    trace_indices: list[int] = field(default_factory=list)


@dataclass
class PreparedEvaluation:
    config: EvaluateConfig
    params: ServiceParams
    entries: list[PolicyEntry]
    traces: list[EvalTrace]
    notes: list[str]
    windows: int | None
    window_hours: float
    budgets: list[float] = field(default_factory=list)
    warmup_steps: int = 0
    #: One group per distinct service model that has traces (``--service``: ``params``, ``entries``).
    services: list[ServiceGroup] = field(default_factory=list)


@dataclass
class PreparedPools:
    """``--service pools``: the GPU/CPU pools evaluation (:mod:`rlscale.evaluation.pools`)."""

    config: EvaluateConfig
    pools: PoolsEvalConfig


def prepare_job(config: EvaluateConfig) -> PreparedEvaluation | PreparedPools:
    """:func:`prepare` for every service, ``pools`` included; raise :class:`EvaluationInputError`."""
    if config.service != POOLS_SERVICE:
        return prepare(config)
    _validate(config)
    pools = PoolsEvalConfig(
        policies=list(config.policies) or list(DEFAULT_POOLS_POLICIES),
        patterns=[t.removeprefix("synthetic:") for t in config.traces] or list(PATTERNS),
        seeds=config.seeds,
        out=config.out,
        command=config.command or canonical_command(config),
    )
    try:
        check_pools_config(pools, ps.pools_preset())
    except ValueError as exc:
        raise EvaluationInputError(str(exc)) from None
    return PreparedPools(config, pools)


def prepare(config: EvaluateConfig) -> PreparedEvaluation:
    """Resolve the service, the policies and the traces; raise :class:`EvaluationInputError`."""
    budgets = check_budgets(_validate(config).slo_budgets)
    if config.ray is not None:
        _check_ray_installed()
    try:
        params = load_service(config.service)
    except (ValueError, OSError) as exc:
        raise EvaluationInputError(f"--service: {exc}") from exc
    notes: list[str] = []
    default_policies = not config.policies
    specs = list(config.policies) or list(DEFAULT_POLICIES)

    def policies_for(service: ServiceParams, where: str) -> tuple[list[PolicyEntry], list[str]]:
        try:
            return resolve_policies(
                specs,
                service.spec,
                optional=frozenset({"learned"}) if default_policies else frozenset(),
                budgets=tuple(budgets),
            )
        except PolicySpecError as exc:
            raise EvaluationInputError(f"--policy{where}: {exc}") from exc

    entries, spec_notes = policies_for(params, "")
    notes += spec_notes
    try:
        traces = expand_trace_arguments(list(config.traces)) or [DEFAULT_TRACE]
    except TraceError as exc:
        raise EvaluationInputError(str(exc)) from exc
    windows = config.windows
    if not config.traces and windows is None:
        windows = DEFAULT_WINDOWS
    window_hours = config.window_hours if config.window_hours is not None else DEFAULT_WINDOW_HOURS
    if len(set(traces)) != len(traces):
        raise EvaluationInputError(f"--trace: the same trace is given twice ({traces})")
    prepared: list[EvalTrace] = []
    groups = {config.service: ServiceGroup(config.service, params, entries)}
    for name in traces:
        sidecar = sidecar_path(name)
        label = config.service if sidecar is None else str(sidecar)
        if label not in groups:
            assert sidecar is not None
            try:
                own = load_service(sidecar)
            except (ValueError, OSError) as exc:
                raise EvaluationInputError(f"--trace {name}: service sidecar {exc}") from exc
            groups[label] = ServiceGroup(label, own, policies_for(own, f" (for {sidecar})")[0])
        group = groups[label]
        group.trace_indices.append(len(prepared))
        try:
            prepared.append(
                prepare_trace(
                    name,
                    group.params,
                    column=config.column,
                    windows=windows,
                    window_hours=window_hours,
                    chunk_hours=config.chunk_hours,
                )
            )
        except (TraceError, ValueError, OSError) as exc:
            raise EvaluationInputError(f"--trace {name}: {exc}") from exc
    if config.chunk_hours is not None:
        notes.append(
            f"each trace ran as chunks of {config.chunk_hours:g} h side by side, each after a "
            f"{CHUNK_LEAD_HOURS:g}-h lead-in that is played but not scored"
        )
    warmup_steps = round(config.warmup_hours * 3600.0 / params.step_s)
    if warmup_steps:
        step_of = {i: g.params.step_s for g in groups.values() for i in g.trace_indices}
        prepared = [
            _without_warmup(t, round(config.warmup_hours * 3600.0 / step_of[i]))
            for i, t in enumerate(prepared)
        ]
        notes.append(
            f"the first {config.warmup_hours:g} h of each window ({warmup_steps} steps) are played by every "
            "policy but excluded from every metric (warm-up)"
        )
    return PreparedEvaluation(
        config,
        params,
        entries,
        prepared,
        notes,
        windows,
        window_hours,
        budgets,
        warmup_steps,
        [g for g in groups.values() if g.trace_indices],
    )


def _without_warmup(trace: EvalTrace, warmup_steps: int) -> EvalTrace:
    """``trace`` with its first ``warmup_steps`` steps masked out of the metrics."""
    if warmup_steps >= trace.steps:
        raise EvaluationInputError(
            f"--warmup-hours: {warmup_steps} warm-up steps leave nothing to score in {trace.name!r} "
            f"({trace.steps} steps per window)"
        )
    valid = trace.valid.copy()
    valid[:, :warmup_steps] = False
    if not valid.any():
        raise EvaluationInputError(f"--warmup-hours: no valid step of {trace.name!r} is left to score")
    return EvalTrace(trace.name, trace.rates_rps, valid, trace.start_offsets_s)


def _validate(config: EvaluateConfig) -> EvaluateConfig:
    try:
        return config.validate()
    except ConfigError as exc:
        raise EvaluationInputError(str(exc)) from exc


def _check_ray_installed() -> None:
    """--ray without Ray installed fails before anything runs."""
    from rlscale.evaluation.distributed import RayUnavailableError, import_ray

    try:
        import_ray()
    except RayUnavailableError as exc:
        raise EvaluationInputError(str(exc)) from exc


def service_dict(params: ServiceParams, preset: str) -> dict[str, Any]:
    """The report's ``service`` object: the spec's fields at the top, the model under ``model``."""
    model = params.to_dict()
    spec = model.pop("spec")
    model.pop("description", None)
    return {**spec, "preset": preset, "model": model}


def run(prep: PreparedEvaluation, *, progress: bool = False) -> tuple[dict[str, Any], list[PolicyResult]]:
    """Run every policy and build the report dict (nothing is written here)."""
    cfg = prep.config
    with _task_runner(cfg) as runner:
        by_trace: dict[int, list[PolicyResult]] = {}
        for group in prep.services:
            out = evaluate(
                group.params,
                [prep.traces[i] for i in group.trace_indices],
                group.entries,
                cfg.seeds,
                base_seed=cfg.base_seed,
                oracle_step_violation=cfg.oracle_step_violation,
                progress=progress,
                runner=runner,
            )
            n = len(group.entries)
            for j, i in enumerate(group.trace_indices):
                by_trace[i] = out[j * n : (j + 1) * n]
    results = [r for i in range(len(prep.traces)) for r in by_trace[i]]
    config = {
        "command": cfg.command or canonical_command(cfg),
        "traces": [t.name for t in prep.traces],
        "column": cfg.column,
        "policies": [e.label for e in prep.entries],
        "service": cfg.service,
        "seeds": cfg.seeds,
        "base_seed": cfg.base_seed,
        "windows": prep.windows,
        "window_hours": prep.window_hours if prep.windows is not None else None,
        "window_start_offsets_s": {
            t.name: [float(x) for x in (t.start_offsets_s if t.start_offsets_s is not None else [])]
            for t in prep.traces
        },
        "oracle_step_violation": cfg.oracle_step_violation,
        "chunk_hours": cfg.chunk_hours,
        "warmup_hours": cfg.warmup_hours,
        "slo_budgets": prep.budgets,
        # each trace's service model (--service or its NAME.service.json) and its SLO budget
        "services": {
            prep.traces[i].name: {"service": g.label, "slo_budget": g.params.spec.slo_budget}
            for g in prep.services
            for i in g.trace_indices
        },
    }
    report = build_report(
        service=service_dict(prep.params, cfg.service),
        seeds=cfg.seeds,
        results=results,
        config=config,
        notes=prep.notes,
        budgets=prep.budgets,
        reference_policies={
            str(parse_policy_spec(s)) for g in prep.services for s in reference_specs(g.params.spec)
        },
    )
    fleet = fleet_summary(report)
    if fleet is not None:
        report["fleet"] = fleet
    return report, results


@contextmanager
def _task_runner(cfg: EvaluateConfig) -> Iterator[TaskRunner | None]:
    """Ray's task runner with --ray (started, or joined, for this run only), else None."""
    if cfg.ray is None:
        yield None
        return
    from rlscale.evaluation.distributed import RayTaskRunner

    with RayTaskRunner(cfg.ray, num_cpus=cfg.ray_cpus) as runner:
        yield runner


def run_and_write(
    prep: PreparedEvaluation | PreparedPools, *, progress: bool = False
) -> tuple[dict[str, Any], Path]:
    """Run a prepared job and write its report (returned as written, with its path)."""
    if isinstance(prep, PreparedPools):
        report, timelines = evaluate_pools(prep.pools)
        return write_pools_report(prep.config.out, report, timelines)
    report, results = run(prep, progress=progress)
    path = write_report(prep.config.out, report, results)
    return report, path


def canonical_command(cfg: EvaluateConfig) -> str:
    """The ``rlscale evaluate`` command line that reproduces ``cfg`` (for report.md)."""
    args = ["rlscale", "evaluate", *command_args(cfg, always=("service", "seeds", "out"))]
    return " ".join(shlex.quote(a) for a in args)
