"""The SLO-budget view on VALIDATION pieces, where the budget loop's constants are chosen
(``core/slo_budget.FeedbackConfig``), so that no choice is made on a test trace. Prints JSON.

    .venv/bin/python bench/budget_validation.py [--checkpoint DIR] [--seeds 2] [--short]
                                                [--feedback KEY=VALUE ...] [--traces NAME ...]
                                                [--out FILE]

The pieces are the last days of each named trace's *training* part (the standard split's test
part is never read), rescaled as training rescales it, and synthetic patterns at seeds that
neither training (< 1,000 × windows) nor evaluation (>= 1,000,000) draws. Each runs whole after
one hour of warm-up, with the tuned-HPA reference at budgets 0.5/1/2 % — the same scores as
``bench/quality.py --only budget``. ``--feedback target_burn=0.8`` overrides one of the
checkpoint's feedback constants for a comparison run (the checkpoint is not changed).

``--short`` runs the other regime the held-out traces hold instead: one-hour per-second
inference-like load (issue 13's "two one-hour per-second inference-service traces"), here the
six seeded bursty kinds of ``workload.bursts`` at three validation seeds each, scored after
the 15 minutes of warm-up issue 13 gives traces shorter than 4 h (about 10 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# the budgets, warm-up and budget-row reader of the test view: bench/quality.py (bench/ is sys.path[0])
from quality import BUDGETS, WARMUP_HOURS, _budget_rows, _emit, budget_summary
from rlscale.core.slo_budget import FeedbackConfig
from rlscale.evaluation.harness import EvaluateConfig, PreparedEvaluation, prepare, run
from rlscale.evaluation.runner import EvalTrace
from rlscale.policies.learned import default_policy_path
from rlscale.workload.registry import standard_split
from rlscale.workload.transform import DEFAULT_PEAK_FRACTION, rescale_factor

#: Days at the end of each training part (before its last valid step): several days each, so
#: the loop's multi-hour memory and the 6-h window are exercised, as on a deployed service.
VALIDATION_DAYS = {"nasa": 4.0, "twitter": 3.0, "twitter-15s": 2.0, "alibaba-lora": 4.0}
#: Synthetic patterns at seeds between training's and evaluation's ranges.
VALIDATION_SYNTHETIC = ("synthetic:flash-crowd?seed=700001", "synthetic:bursty?seed=700002")
#: One-hour per-second pieces: every seeded bursty kind at three seeds of the same gap.
SHORT_KINDS = ("from-zero", "per-second-noise", "step-start", "mmpp", "heavy-tail", "periodic-spikes")
VALIDATION_SHORT = tuple(
    f"synthetic:{kind}?seed={720000 + 100 * i + j}&step_s=1&steps=3600"
    for i, kind in enumerate(SHORT_KINDS)
    for j in range(3)
)
#: Issue 13's warm-up for traces shorter than 4 h.
SHORT_WARMUP_HOURS = 0.25


def validation_piece(name: str, prep_params: Any, days: float) -> EvalTrace:
    """The last ``days`` of ``name``'s training part up to its last valid step, rescaled as a
    whole training part is, with the warm-up masked out of the scores."""
    step_s = prep_params.step_s
    train, _test = standard_split(name, step_s=step_s)  # the test part is never read
    last = int(np.flatnonzero(train.valid)[-1]) + 1
    start = max(0, last - round(days * 86400.0 / step_s))
    factor = rescale_factor(
        train.rate_rps,
        float(np.mean(prep_params.mu_rps)),
        prep_params.spec.max_replicas,
        DEFAULT_PEAK_FRACTION,
        valid=train.valid,
    )
    valid = train.valid[start:last].copy()
    valid[: round(WARMUP_HOURS * 3600.0 / step_s)] = False
    return EvalTrace(
        name=f"{name}:validation",
        rates_rps=(train.rate_rps[start:last] * factor)[None, :],
        valid=valid[None, :],
        start_offsets_s=np.array([train.start_offset_s + start * step_s]),
    )


def checkpoint_with(path: Path, overrides: dict[str, float], into: Path) -> Path:
    """A copy of the checkpoint at ``path`` whose budget feedback has ``overrides`` applied."""
    shutil.copytree(path, into, dirs_exist_ok=True)
    meta_path = into / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    feedback = FeedbackConfig.from_dict(meta["action"]["budget_feedback"])
    meta["action"]["budget_feedback"] = dataclasses.replace(feedback, **overrides).to_dict()
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return into


def prepare_piece(
    trace: str, policies: list[str], seeds: int, command: str, warmup_hours: float = WARMUP_HOURS
) -> PreparedEvaluation:
    """The evaluation of ``policies`` on ``trace``'s validation piece (named traces: their own
    warm-up of :data:`WARMUP_HOURS`) or the synthetic pattern after ``warmup_hours``
    (:data:`SHORT_WARMUP_HOURS` on the one-hour pieces), at the budget view's budgets."""
    named = trace in VALIDATION_DAYS
    cfg = EvaluateConfig(
        # a named trace's test part is only loaded to build the evaluation; its piece replaces it
        traces=[trace],
        policies=policies,
        service="web",
        seeds=seeds,
        warmup_hours=0.0 if named else warmup_hours,
        slo_budgets=list(BUDGETS),
        command=command,
    )
    prep = prepare(cfg)
    if named:
        prep.traces = [validation_piece(trace, prep.params, VALIDATION_DAYS[trace])]
    return prep


def budget_validation(
    policy_spec: str, seeds: int, traces: tuple[str, ...], warmup_hours: float = WARMUP_HOURS
) -> dict[str, Any]:
    per_trace: dict[str, dict[str, Any]] = {}
    for trace in traces:
        prep = prepare_piece(
            trace, [policy_spec, "hpa"], seeds, f"bench/budget_validation.py ({policy_spec})", warmup_hours
        )
        report, _ = run(prep)
        per_trace.update(_budget_rows(report, policy_spec.split(":")[0]))
    return budget_summary(per_trace)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="checkpoint dir (default: the shipped policy)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument(
        "--feedback",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override budget-feedback constants of the checkpoint, e.g. target_burn=0.8",
    )
    ap.add_argument(
        "--traces", nargs="*", default=None, help="restrict to these pieces (named traces or synthetic specs)"
    )
    ap.add_argument(
        "--short", action="store_true", help="the one-hour per-second pieces (15 min warm-up) instead"
    )
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    path = Path(args.checkpoint or default_policy_path())
    overrides = {}
    for item in args.feedback:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--feedback {item!r}: expected KEY=VALUE")
        if key not in FeedbackConfig.__dataclass_fields__:
            ap.error(f"--feedback {item!r}: {key!r} is not a FeedbackConfig field")
        try:
            overrides[key] = float(value)
        except ValueError:
            ap.error(f"--feedback {item!r}: {value!r} is not a number")
    default = VALIDATION_SHORT if args.short else (*VALIDATION_DAYS, *VALIDATION_SYNTHETIC)
    traces = tuple(args.traces) if args.traces else default
    warmup = SHORT_WARMUP_HOURS if args.short else WARMUP_HOURS
    with tempfile.TemporaryDirectory() as tmp:
        if overrides:
            path = checkpoint_with(path, overrides, Path(tmp) / "checkpoint")
        out = {
            "bench": "budget_validation",
            "checkpoint": str(args.checkpoint or "shipped"),
            "feedback_overrides": overrides,
            "seeds": args.seeds,
            "warmup_hours": warmup,
            "validation_days": VALIDATION_DAYS,
            "budget": budget_validation(f"learned:{path}", args.seeds, traces, warmup),
        }
    _emit(out, args.out)


if __name__ == "__main__":
    main()
