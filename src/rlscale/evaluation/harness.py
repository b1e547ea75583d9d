"""The whole ``rlscale evaluate`` job as a library call: validate every input, run, report.

Validation happens entirely before the first simulated step (service, policy specs, traces
loaded and cut), so bad input costs nothing and leaves nothing behind. The CLI is a thin
wrapper around :func:`prepare` and :func:`run`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlscale.evaluation.budget import check_budgets, reference_specs
from rlscale.evaluation.report import build_report, write_report
from rlscale.evaluation.results import PolicyResult
from rlscale.evaluation.runner import ORACLE_STEP_VIOLATION, EvalTrace, PolicyEntry, evaluate
from rlscale.evaluation.specs import DEFAULT_POLICIES, resolve_policies
from rlscale.evaluation.traces import prepare_trace
from rlscale.policies.registry import PolicySpecError, parse_policy_spec
from rlscale.sim.params import ServiceParams
from rlscale.sim.presets import DEFAULT_PRESET, load_service
from rlscale.workload.trace import TraceError

#: With no --trace: the bundled NASA trace, 4 windows of 6 h from its test part (August 1995),
#: 5 seeds: 17 policy runs of 20 envs × 1440 steps, a few minutes on two cores.
DEFAULT_TRACE = "nasa"
DEFAULT_WINDOWS = 4
DEFAULT_WINDOW_HOURS = 6.0
#: DESIGN.md §7 / reference §7.4: at least 5 seeds for a 95 % CI.
DEFAULT_SEEDS = 5


class EvaluationInputError(ValueError):
    """A bad argument (service, policy spec, trace, count); the message says which."""


@dataclass
class EvaluateConfig:
    traces: list[str] = field(default_factory=list)
    column: str | None = None
    policies: list[str] = field(default_factory=list)
    service: str = DEFAULT_PRESET
    seeds: int = DEFAULT_SEEDS
    window_hours: float | None = None
    windows: int | None = None
    out: Path = Path("reports/evaluate")
    base_seed: int = 0
    oracle_step_violation: float = ORACLE_STEP_VIOLATION
    command: str | None = None
    #: Hours at the start of each window that every policy plays but no metric scores.
    warmup_hours: float = 0.0
    #: SLO budgets (fractions) for the budget view; empty = no budget view.
    slo_budgets: list[float] = field(default_factory=list)


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


def prepare(config: EvaluateConfig) -> PreparedEvaluation:
    """Resolve the service, the policies and the traces; raise :class:`EvaluationInputError`."""
    if config.seeds < 1:
        raise EvaluationInputError(f"--seeds must be >= 1, got {config.seeds}")
    if config.windows is not None and config.windows < 1:
        raise EvaluationInputError(f"--windows must be >= 1, got {config.windows}")
    if config.window_hours is not None and not (0 < config.window_hours < float("inf")):
        raise EvaluationInputError(f"--window-hours must be a finite number > 0, got {config.window_hours}")
    if not (0 <= config.warmup_hours < float("inf")):
        raise EvaluationInputError(f"--warmup-hours must be a finite number >= 0, got {config.warmup_hours}")
    try:
        budgets = check_budgets(config.slo_budgets)
    except ValueError as exc:
        raise EvaluationInputError(str(exc)) from exc
    try:
        params = load_service(config.service)
    except (ValueError, OSError) as exc:
        raise EvaluationInputError(f"--service: {exc}") from exc
    notes: list[str] = []
    default_policies = not config.policies
    specs = list(config.policies) or list(DEFAULT_POLICIES)
    try:
        entries, spec_notes = resolve_policies(
            specs,
            params.spec,
            optional=frozenset({"learned"}) if default_policies else frozenset(),
            budgets=tuple(budgets),
        )
    except PolicySpecError as exc:
        raise EvaluationInputError(f"--policy: {exc}") from exc
    notes += spec_notes
    traces = list(config.traces) or [DEFAULT_TRACE]
    windows = config.windows
    if not config.traces and windows is None:
        windows = DEFAULT_WINDOWS
    window_hours = config.window_hours if config.window_hours is not None else DEFAULT_WINDOW_HOURS
    if len(set(traces)) != len(traces):
        raise EvaluationInputError(f"--trace: the same trace is given twice ({traces})")
    prepared: list[EvalTrace] = []
    for name in traces:
        try:
            prepared.append(
                prepare_trace(name, params, column=config.column, windows=windows, window_hours=window_hours)
            )
        except (TraceError, ValueError, OSError) as exc:
            raise EvaluationInputError(f"--trace {name}: {exc}") from exc
    warmup_steps = round(config.warmup_hours * 3600.0 / params.step_s)
    if warmup_steps:
        prepared = [_without_warmup(t, warmup_steps) for t in prepared]
        notes.append(
            f"the first {config.warmup_hours:g} h of each window ({warmup_steps} steps) are played by every "
            "policy but excluded from every metric (warm-up)"
        )
    return PreparedEvaluation(
        config, params, entries, prepared, notes, windows, window_hours, budgets, warmup_steps
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


def service_dict(params: ServiceParams, preset: str) -> dict[str, Any]:
    """The report's ``service`` object: the spec's fields at the top, the model under ``model``."""
    model = params.to_dict()
    spec = model.pop("spec")
    model.pop("description", None)
    return {**spec, "preset": preset, "model": model}


def run(prep: PreparedEvaluation, *, progress: bool = False) -> tuple[dict[str, Any], list[PolicyResult]]:
    """Run every policy and build the report dict (nothing is written here)."""
    cfg = prep.config
    results = evaluate(
        prep.params,
        prep.traces,
        prep.entries,
        cfg.seeds,
        base_seed=cfg.base_seed,
        oracle_step_violation=cfg.oracle_step_violation,
        progress=progress,
    )
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
        "warmup_hours": cfg.warmup_hours,
        "slo_budgets": prep.budgets,
    }
    report = build_report(
        service=service_dict(prep.params, cfg.service),
        seeds=cfg.seeds,
        results=results,
        config=config,
        notes=prep.notes,
        budgets=prep.budgets,
        reference_policies={str(parse_policy_spec(s)) for s in reference_specs(prep.params.spec)},
    )
    return report, results


def run_and_write(prep: PreparedEvaluation, *, progress: bool = False) -> tuple[dict[str, Any], Path]:
    report, results = run(prep, progress=progress)
    path = write_report(prep.config.out, report, results)
    return report, path


def canonical_command(cfg: EvaluateConfig) -> str:
    """The ``rlscale evaluate`` command line that reproduces ``cfg`` (for report.md)."""
    args = ["rlscale", "evaluate"]
    for t in cfg.traces:
        args += ["--trace", t]
    if cfg.column is not None:
        args += ["--column", cfg.column]
    for p in cfg.policies:
        args += ["--policy", p]
    args += ["--service", cfg.service, "--seeds", str(cfg.seeds)]
    if cfg.windows is not None:
        args += ["--windows", str(cfg.windows)]
    if cfg.window_hours is not None:
        args += ["--window-hours", f"{cfg.window_hours:g}"]
    if cfg.warmup_hours:
        args += ["--warmup-hours", f"{cfg.warmup_hours:g}"]
    for b in cfg.slo_budgets:
        args += ["--slo-budget", f"{b:g}"]
    args += ["--out", str(cfg.out)]
    return " ".join(shlex.quote(a) for a in args)
