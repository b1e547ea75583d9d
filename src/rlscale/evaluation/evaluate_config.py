"""The configuration of ``rlscale evaluate``, stated once: :class:`EvaluateConfig`.

Each field is a :func:`~rlscale.core.settings.setting` carrying its flag, default and help, so
the command's options (``rlscale.cli.evaluate``), the command line recorded in the report
(:func:`~rlscale.evaluation.harness.canonical_command`) and docs/flags.md are generated from
it. It lives apart from :mod:`rlscale.evaluation.harness` (which re-exports it) so that
``rlscale --help`` does not import the simulator.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from rlscale.core.output_paths import check_output_dir
from rlscale.core.settings import ConfigError, is_default, setting, settings_of
from rlscale.core.spec import DEFAULT_SERVICE

#: With no --trace: the bundled NASA trace, 4 windows of 6 h from its test part (August 1995),
#: 5 seeds: 17 policy runs of 20 envs × 1440 steps, a few minutes on two cores.
DEFAULT_TRACE = "nasa"
DEFAULT_WINDOWS = 4
DEFAULT_WINDOW_HOURS = 6.0
#: DESIGN.md §7 / reference §7.4: at least 5 seeds for a 95 % CI.
DEFAULT_SEEDS = 5
#: ``--service pools``: the GPU/CPU pools evaluation (:mod:`rlscale.evaluation.pools`).
POOLS_SERVICE = "pools"
#: Options the pools evaluation does not take (its loads are seed 003's patterns, its policies
#: the pools' own), by field: given, they are refused, not silently ignored.
NOT_FOR_POOLS: tuple[str, ...] = (
    "column",
    "windows",
    "window_hours",
    "chunk_hours",
    "ray",
    "ray_cpus",
    "warmup_hours",
    "slo_budgets",
)


def _oracle_step_violation() -> float:
    from rlscale.evaluation.runner import ORACLE_STEP_VIOLATION  # numpy and the simulator: not at --help

    return ORACLE_STEP_VIOLATION


@dataclass
class EvaluateConfig:
    """One evaluation job: traces, policies, service, seeds and windows. :meth:`validate` names
    every bad flag at once."""

    traces: list[str] = setting(
        default_factory=list,
        flags=("--trace",),
        help="Trace to evaluate on (repeatable): a named trace (nasa, twitter, twitter-15s, alibaba-lora, "
        "alibaba-gateway), 'synthetic:<kind>[?seed=..&steps=..]', a CSV path, or a fleet: a directory or a "
        "quoted glob of CSV files, one service each (NAME.service.json beside NAME.csv gives that service its "
        "own model, as --service FILE; report.json then has a fleet summary). "
        f"Default: the bundled NASA trace, {DEFAULT_WINDOWS} windows of its test part (August 1995).",
    )
    column: str | None = setting(
        None,
        flags=("--column",),
        help="Count column of every CSV trace given (named traces have fixed columns).",
    )
    policies: list[str] = setting(
        default_factory=list,
        flags=("--policy",),
        help="Policy SPEC (repeatable): hpa, hpa:target=60, hpa-frontier, keda, kpa, threshold, "
        "static:replicas=5, predictive, oracle, learned, learned:PATH. Default: hpa, hpa-frontier, keda, "
        "kpa, predictive, oracle and the shipped learned policy if one exists. The oracle is always added.",
    )
    service: str = setting(
        DEFAULT_SERVICE,
        flags=("--service",),
        help="Service preset (web, lipari2025, teastore), a service JSON file, or 'pools' (GPU/CPU pools: "
        "--trace ramp|spike|periodic|random, --policy all-gpu|all-cpu|balanced|static|hpa-per-pool|learned:PATH, "
        "--seeds, --out, --json; the other options are refused).",
    )
    seeds: int = setting(
        DEFAULT_SEEDS,
        flags=("--seeds",),
        help="Seeds per window (arrival randomness); mean ± 95 % CI over them.",
    )
    window_hours: float | None = setting(
        None,
        flags=("--window-hours",),
        help=f"Window length in hours with --windows (default {DEFAULT_WINDOW_HOURS:g}).",
    )
    windows: int | None = setting(
        None,
        flags=("--windows",),
        help="Evaluate N windows of --window-hours from each trace's test split (default: each trace whole; "
        f"{DEFAULT_WINDOWS} windows for the default NASA trace).",
    )
    chunk_hours: float | None = setting(
        None,
        flags=("--chunk-hours",),
        help="Run each whole trace as chunks of H hours side by side in one batch (each after a 1-h "
        "lead-in that is played, not scored): a 60-day trace in seconds instead of one long loop.",
    )
    #: Hours at the start of each window that every policy plays but no metric scores.
    warmup_hours: float = setting(
        0.0,
        flags=("--warmup-hours",),
        help="Hours at the start of each window that every policy (baselines, frontier and oracle too) "
        "plays but no metric scores: a deployed scaler has history. Default 0.",
    )
    #: SLO budgets (fractions) for the budget view; empty = no budget view.
    slo_budgets: list[float] = setting(
        default_factory=list,
        flags=("--slo-budget",),
        help="SLO error budget, a fraction (repeatable: 0.005, 0.01, 0.02). Adds the budget view: per "
        "trace and budget the tuned-HPA reference (cheapest hpa:target=10..95 or static:replicas=N "
        "keeping it, in hindsight), and per policy budget_kept, seeds_kept and cost_vs_tuned_hpa; "
        "learned runs once per budget (learned:budget=B).",
    )
    #: Ray address (``local``, ``auto``, ``ray://host:port``): run the batches as Ray tasks. Part
    #: of the job (not only of how the command runs it): library callers and benches set it.
    ray: str | None = setting(
        None,
        flags=("--ray",),
        metavar="ADDRESS",
        help="Run the batches as Ray tasks (pip install 'rlscale\\[ray]'): 'local' starts an embedded Ray on "
        "this machine's cores (shut down at the end, Ctrl-C included), 'auto' joins the running cluster, "
        "'ray://host:port' a remote one. Same report numbers as without --ray.",
    )
    #: CPUs of the embedded Ray started by ``ray="local"`` (default: every core).
    ray_cpus: int | None = setting(
        None, flags=("--ray-cpus",), help="CPUs of the embedded Ray of --ray local (default: every core)."
    )
    out: Path = setting(
        Path("reports/evaluate"),
        flags=("--out",),
        help="Report directory (report.json, report.md, PNG plots).",
    )
    base_seed: int = 0
    oracle_step_violation: float = dataclasses.field(default_factory=_oracle_step_violation)
    command: str | None = None  # the command line, recorded in the report (default: canonical_command)

    def validate(self) -> EvaluateConfig:
        """Every flag checked before any work (a bad --out used to lose the whole run at the end):
        raises a ConfigError naming each flag at fault."""
        problems = []
        if self.seeds < 1:
            problems.append(f"{{seeds}} must be >= 1, got {self.seeds}")
        try:
            check_output_dir(self.out, "{out}")
        except ValueError as exc:
            problems.append(str(exc))
        if self.service == POOLS_SERVICE:
            problems += [
                f"{{{f.name}}} does not apply to {{service}} {POOLS_SERVICE}"
                for f in settings_of(EvaluateConfig)
                if f.name in NOT_FOR_POOLS and not is_default(f, getattr(self, f.name))
            ]
        else:
            problems += self._window_problems() + self._ray_problems()
        if problems:
            raise ConfigError(type(self), problems)
        return self

    def _window_problems(self) -> list[str]:
        from rlscale.evaluation.budget import check_budgets

        problems = []
        if self.windows is not None and self.windows < 1:
            problems.append(f"{{windows}} must be >= 1, got {self.windows}")
        for name in ("window_hours", "chunk_hours"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                problems.append(f"{{{name}}} must be a finite number > 0, got {value}")
        if not 0 <= self.warmup_hours < math.inf:
            problems.append(f"{{warmup_hours}} must be a finite number >= 0, got {self.warmup_hours}")
        try:
            check_budgets(self.slo_budgets)
        except ValueError as exc:
            problems.append(str(exc))
        if self.chunk_hours is not None and self.windows is not None:
            problems.append("{chunk_hours} splits whole traces: it cannot be used with {windows}")
        if self.chunk_hours is not None and self.warmup_hours:
            problems.append(
                "{chunk_hours} gives every chunk its own unscored lead-in; it cannot be used with {warmup_hours}"
            )
        return problems

    def _ray_problems(self) -> list[str]:
        from rlscale.evaluation.distributed import check_address

        if self.ray is None:
            return [] if self.ray_cpus is None else ["{ray_cpus} applies to {ray} local"]
        problems = []
        try:
            check_address(self.ray)
        except ValueError as exc:
            problems.append(str(exc))
        if self.ray_cpus is not None and (self.ray != "local" or self.ray_cpus < 1):
            problems.append(
                f"{{ray_cpus}} must be >= 1 and applies to {{ray}} local, got {self.ray_cpus} with {self.ray}"
            )
        return problems
