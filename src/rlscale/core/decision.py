"""A scaling decision and the reasons that shaped it (HPA/VPA style: recommend → review →
actuate, with a reason recorded for every clamp)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reason:
    """Why a guard step changed (or held) a proposal. ``code`` uses HPA-style names such as
    ``ScaleUpLimit``, ``DesiredWithinRange``, ``TooFewReplicas``, ``StaleMetrics``."""

    code: str
    message: str
    before: int | None = None
    after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Decision:
    """One target's decision for one period: what the policy proposed and what was applied."""

    time_s: float
    current_replicas: int
    proposed_replicas: int
    final_replicas: int
    reasons: tuple[Reason, ...] = ()
    dry_run: bool = False
    inputs: dict[str, float] = field(default_factory=dict)
    #: the policy's own reasons for ``proposed_replicas`` (what it sized for); ``reasons`` are
    #: the guard's (and the loop's failures), which act on the proposal afterwards
    policy_reasons: tuple[Reason, ...] = ()

    @property
    def changed(self) -> bool:
        return self.final_replicas != self.current_replicas

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_s": self.time_s,
            "current_replicas": self.current_replicas,
            "proposed_replicas": self.proposed_replicas,
            "final_replicas": self.final_replicas,
            "policy_reasons": [r.to_dict() for r in self.policy_reasons],
            "reasons": [r.to_dict() for r in self.reasons],
            "dry_run": self.dry_run,
            "inputs": self.inputs,
        }
