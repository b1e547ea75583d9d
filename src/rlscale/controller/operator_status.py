"""An ``RLAutoscaler``'s status, read like an HPA's: the last decision, HPA-style conditions
(``AbleToScale``, ``ScalingActive``, ``ScalingLimited`` plus ``SpecValid``), which of them is
worth a Warning event, and the downscale window carried across leaders in
``status.recommendations``. Pure functions of a :class:`~rlscale.core.decision.Decision` and
the status dict, so they are tested without a cluster; the operator only patches and posts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from rlscale.controller.crd import (
    CONDITION_ABLE_TO_SCALE,
    CONDITION_SCALING_ACTIVE,
    CONDITION_SCALING_LIMITED,
    CONDITION_SPEC_VALID,
)
from rlscale.core.decision import Decision

#: Condition states worth a Warning event when entered (the HPA's unhealthy states);
#: ScalingLimited=False ("DesiredWithinRange") and SpecValid (own event) are not.
WARNING_STATES: frozenset[tuple[str, str]] = frozenset(
    {(CONDITION_ABLE_TO_SCALE, "False"), (CONDITION_SCALING_ACTIVE, "False")}
)

# HPA reasons (pkg/controller/podautoscaler/horizontal.go) and the guard's codes they map to.
_LIMIT_CODES = ("TooFewReplicas", "TooManyReplicas", "ScaleUpLimit", "ScaleDownLimit")
_METRICS_FAILURE_CODES = ("FailedGetMetrics", "StaleMetrics")


def rfc3339(when: dt.datetime | None = None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def summarize(decision: Decision) -> str:
    """One line for the printer column: ``3->5 (PolicySizedForLoad,ScaleUpLimit)``: the policy's
    first reason, then the guard's."""
    codes = [r.code for r in decision.policy_reasons[:1]] + [r.code for r in decision.reasons]
    return f"{decision.current_replicas}->{decision.final_replicas} ({','.join(dict.fromkeys(codes)) or 'NoChange'})"


def explain(decision: Decision) -> str:
    """The event text's reasons: the policy's own, then the guard's."""
    policy = "; ".join(r.message for r in decision.policy_reasons) or "none given"
    guard = "; ".join(f"{r.code}: {r.message}" for r in decision.reasons) or "no guard intervention"
    return f"policy: {policy}; guard: {guard}"


def _reason_status(reasons: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.to_dict().items() if v is not None} | {"message": r.message[:1024]}
        for r in reasons
    ]


def scaled(decision: Decision) -> bool:
    """Whether the decision was written to the scale subresource."""
    failed = any(r.code in ("FailedRescale", "FailedGetScale") for r in decision.reasons)
    return decision.changed and not decision.dry_run and not failed


def held_scale_down(decision: Decision) -> bool:
    """The policy asked for fewer pods and the guard kept more (stabilisation, rate limit)."""
    return 0 <= decision.proposed_replicas < decision.current_replicas and not decision.changed


def decision_conditions(decision: Decision) -> dict[str, tuple[str, str, str]]:
    """HPA-style conditions ``type -> (status, reason, message)`` for one decision."""
    codes = {r.code: r.message for r in decision.reasons}
    out: dict[str, tuple[str, str, str]] = {}
    if "FailedGetScale" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("False", "FailedGetScale", codes["FailedGetScale"])
    elif "FailedRescale" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("False", "FailedUpdateScale", codes["FailedRescale"])
    elif decision.dry_run:
        out[CONDITION_ABLE_TO_SCALE] = (
            "True",
            "DryRun",
            "dryRun is set: decisions are recorded, never applied",
        )
    elif "ScaleDownStabilized" in codes:
        out[CONDITION_ABLE_TO_SCALE] = ("True", "ScaleDownStabilized", codes["ScaleDownStabilized"])
    elif scaled(decision):
        out[CONDITION_ABLE_TO_SCALE] = (
            "True",
            "SucceededRescale",
            f"the scale was updated to {decision.final_replicas}",
        )
    else:
        out[CONDITION_ABLE_TO_SCALE] = ("True", "ReadyForNewScale", "recommended size matches current size")
    failing = [c for c in _METRICS_FAILURE_CODES if c in codes]
    if failing:
        out[CONDITION_SCALING_ACTIVE] = ("False", "FailedGetMetrics", codes[failing[0]])
    elif "FailedGetScale" not in codes:
        out[CONDITION_SCALING_ACTIVE] = ("True", "ValidMetricFound", "the policy decided from fresh metrics")
    limits = [c for c in _LIMIT_CODES if c in codes]
    if limits:
        out[CONDITION_SCALING_LIMITED] = ("True", limits[0], codes[limits[0]])
    else:
        out[CONDITION_SCALING_LIMITED] = (
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    return out


def merge_conditions(
    previous: list[Mapping[str, Any]] | None, updates: Mapping[str, tuple[str, str, str]], now: str
) -> list[dict[str, Any]]:
    """New condition list: ``lastTransitionTime`` moves only when a status flips (API conventions)."""
    by_type = {c["type"]: dict(c) for c in previous or [] if isinstance(c, Mapping) and "type" in c}
    for kind, (status, reason, message) in updates.items():
        old = by_type.get(kind)
        transition = now if old is None or old.get("status") != status else old.get("lastTransitionTime", now)
        by_type[kind] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message[:1024],
            "lastTransitionTime": transition,
        }
    order = [
        CONDITION_SPEC_VALID,
        CONDITION_ABLE_TO_SCALE,
        CONDITION_SCALING_ACTIVE,
        CONDITION_SCALING_LIMITED,
    ]
    return sorted(
        by_type.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else len(order)
    )


def decision_status(decision: Decision, decisions: int, generation: int | None) -> dict[str, Any]:
    """The status fields of one decision (conditions are merged separately)."""
    status: dict[str, Any] = {
        "currentReplicas": decision.current_replicas,
        "desiredReplicas": decision.final_replicas,
        "decisions": decisions,
        "lastDecision": {
            "time": rfc3339(),
            "currentReplicas": decision.current_replicas,
            "proposedReplicas": decision.proposed_replicas,
            "finalReplicas": decision.final_replicas,
            "dryRun": decision.dry_run,
            "summary": summarize(decision),
            "policyReasons": _reason_status(decision.policy_reasons),
            "reasons": _reason_status(decision.reasons),
        },
    }
    if generation is not None:
        status["observedGeneration"] = generation
    if scaled(decision):
        status["lastScaleTime"] = rfc3339()
    return status


def entered_warning_states(
    before: Mapping[str, Any], conditions: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """The conditions that have just entered a :data:`WARNING_STATES` state: warnings on a
    transition into a bad state, never every period and never for a healthy one."""
    return [
        c
        for c in conditions or []
        if (c["type"], c["status"]) in WARNING_STATES and before.get(c["type"]) != c["status"]
    ]


def reported_invalid_spec(status: Mapping[str, Any] | None) -> str | None:
    """The InvalidSpec message already in the CR's status (posted by an earlier leader), so a
    new leader does not post the same warning again."""
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == CONDITION_SPEC_VALID and cond.get("status") == "False":
            return str(cond.get("message", ""))
    return None


def restore_window(controller: Any, status: Mapping[str, Any] | None) -> None:
    """Continue the downscale window from ``status.recommendations`` (written by the last
    leader or the last run of this one), so a restart or take-over does not hold the current
    count for a whole window. Malformed entries are skipped: the window then seeds as usual."""
    records = []
    for item in (status or {}).get("recommendations") or []:
        try:
            records.append((float(item["time"]), int(item["replicas"])))
        except (KeyError, TypeError, ValueError):
            continue
    if records and hasattr(controller, "restore_recommendations"):
        controller.restore_recommendations(records)
