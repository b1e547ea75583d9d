"""The safety guard: an ordered chain of small review steps between a policy's proposal and
the actuator, in the recommend → review → actuate shape of the Kubernetes HPA/VPA controllers.

Order (each step sees the output of the one before):

1. :class:`ValidateStep`: hold, or fall back to the ``hpa`` policy's proposal, when the
   metrics are stale/NaN/missing or the policy raised or returned garbage.
2. :class:`ClampStep`: clamp to ``[min_replicas, max_replicas]``.
3. :class:`StabilizationStep`: downscale stabilisation, the maximum of the proposals of the
   last ``window_s`` seconds (the HPA's rule, reference/autoscalers.md §1.6).
4. :class:`RateLimitStep`: at most so many pods / percent of change per period, up and down
   (the HPA ``behavior`` policies, §1.6 Path B).
5. :class:`DryRunStep`: shadow mode, the decision is made and logged but not applied.

Every step that changes or holds the proposal records a :class:`~rlscale.core.Reason` with an
HPA-style code. Time comes from the ``time_s`` of the input (the controller's clock), so every
step is a deterministic function of its inputs and its own small history.

The guard sits below ``policies`` in the layering, so it never calls the HPA itself: the
controller computes the fallback proposal and passes it in (:attr:`GuardInput.fallback_proposal`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rlscale.core.decision import Decision, Reason
from rlscale.core.kubernetes_defaults import (
    HPA_DOWNSCALE_STABILIZATION_S,
    HPA_SCALE_UP_PERCENT,
    HPA_SCALE_UP_PERIOD_S,
    HPA_SCALE_UP_PODS,
)

# --- reason codes (HPA condition/event reasons where one exists, same spelling) -------------
STALE_METRICS = "StaleMetrics"
POLICY_ERROR = "PolicyError"
INVALID_PROPOSAL = "InvalidProposal"
FALLBACK_HPA = "FallbackHPA"
HOLD_REPLICAS = "HoldReplicas"
TOO_FEW_REPLICAS = "TooFewReplicas"  # HPA condition ScalingLimited reason
TOO_MANY_REPLICAS = "TooManyReplicas"  # HPA condition ScalingLimited reason
SCALE_DOWN_STABILIZED = "ScaleDownStabilized"  # HPA condition AbleToScale reason
SCALE_UP_LIMIT = "ScaleUpLimit"  # HPA condition ScalingLimited reason
SCALE_DOWN_LIMIT = "ScaleDownLimit"  # HPA condition ScalingLimited reason
DRY_RUN = "DryRun"


@dataclass(frozen=True)
class GuardInput:
    """Everything the guard needs for one decision of one target.

    ``proposal`` is whatever the policy returned (an int, a float, an array of one, None if
    it raised); the validate step decides whether it is usable. ``stale_signals`` names the
    signals the metrics source could not read fresh, with why where known
    (``"cpu_utilization (timeout)"``: stale, NaN, empty, timed out).
    ``fallback_proposal`` is the ``hpa`` policy's proposal on the same signals, or None
    where it could not be computed.
    """

    time_s: float
    current_replicas: int
    proposal: Any
    policy_error: str | None = None
    stale_signals: tuple[str, ...] = ()
    fallback_proposal: Any = None
    inputs: dict[str, float] = field(default_factory=dict)


@dataclass
class GuardState:
    """The proposal as it moves down the chain, with the reasons recorded so far."""

    inp: GuardInput
    replicas: int
    proposed: int
    held: bool = False
    dry_run: bool = False
    reasons: list[Reason] = field(default_factory=list)

    def note(self, code: str, message: str, before: int, after: int) -> None:
        self.reasons.append(Reason(code=code, message=message, before=int(before), after=int(after)))


class GuardStep(Protocol):
    """One review step: reads and changes the :class:`GuardState` in place."""

    def apply(self, state: GuardState) -> None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"guard bounds: need 0 <= min_replicas <= max_replicas, got {self.min_replicas}..{self.max_replicas}"
            )

    def clip(self, replicas: int) -> int:
        return int(min(max(replicas, self.min_replicas), self.max_replicas))

    def clip_noted(self, state: GuardState, before: int, below: str, above: str) -> int:
        """:meth:`clip`, recording ``TooFewReplicas``/``TooManyReplicas`` with the message
        ``"<below|above> <bound>"`` when it changes ``before`` (HPA ScalingLimited reasons)."""
        after = self.clip(before)
        if after > before:
            state.note(TOO_FEW_REPLICAS, f"{below} {after}", before, after)
        elif after < before:
            state.note(TOO_MANY_REPLICAS, f"{above} {after}", before, after)
        return after


def as_replica_count(value: Any) -> tuple[int | None, str]:
    """Interpret a policy's output as one replica count, or say what is wrong with it.

    Accepts an int, an integral float, or a size-1 array of either; refuses NaN, infinities,
    negatives, fractions, booleans, strings and anything of another shape.
    """
    if value is None:
        return None, "no proposal"
    if isinstance(value, (bool, np.bool_)):
        return None, f"proposal is a boolean ({value!r})"
    if isinstance(value, (str, bytes)):
        return None, f"proposal is not a number ({value!r})"
    try:
        arr = np.asarray(value)
    except Exception as exc:  # anything unconvertible is garbage
        return None, f"proposal is not a number ({type(value).__name__}: {exc})"
    if arr.size != 1:
        return None, f"proposal has shape {arr.shape}, expected one value"
    scalar = arr.reshape(()).item()
    if isinstance(scalar, bool) or not isinstance(scalar, (int, float)):
        return None, f"proposal is not a number ({scalar!r})"
    if isinstance(scalar, float):
        if not math.isfinite(scalar):
            return None, f"proposal is not finite ({scalar})"
        if scalar != math.floor(scalar):
            return None, f"proposal is not an integer ({scalar})"
        scalar = int(scalar)
    if scalar < 0:
        return None, f"proposal is negative ({scalar})"
    return int(scalar), ""


class ValidateStep:
    """Step 1: refuse a proposal the controller cannot trust.

    - The policy raised or returned garbage: ``PolicyError``/``InvalidProposal``, then the HPA's
      proposal (``FallbackHPA``) if there is one, else hold the current replicas (``HoldReplicas``).
    - Metrics are stale (any signal in ``stale_signals``): ``StaleMetrics``; the HPA fallback is
      followed only upwards, otherwise hold. That is the HPA's own fail-safe when some metrics
      fail: never scale down on partial information (kubernetes/kubernetes#99514,
      reference/autoscalers.md §1.2).
    """

    def __init__(self, fallback: bool = True) -> None:
        self.fallback = fallback

    def reset(self) -> None:
        return None

    def apply(self, state: GuardState) -> None:
        inp = state.inp
        current = int(inp.current_replicas)
        fallback, fallback_problem = (
            as_replica_count(inp.fallback_proposal) if self.fallback else (None, "fallback disabled")
        )
        if inp.stale_signals:
            state.note(
                STALE_METRICS, f"metrics not fresh: {', '.join(inp.stale_signals)}", state.replicas, current
            )
            if fallback is not None and fallback > current:
                state.note(
                    FALLBACK_HPA, "metrics partly stale; following the HPA upwards only", current, fallback
                )
                state.replicas = fallback
            else:
                self._hold(state, "metrics stale; holding the current replicas")
            return
        proposal, problem = as_replica_count(inp.proposal)
        if inp.policy_error is not None or proposal is None:
            if inp.policy_error is not None:
                state.note(POLICY_ERROR, f"policy failed: {inp.policy_error}", current, current)
            else:
                state.note(INVALID_PROPOSAL, f"policy returned garbage: {problem}", current, current)
            if fallback is not None:
                state.note(FALLBACK_HPA, "using the HPA's proposal instead", current, fallback)
                state.replicas = fallback
                state.proposed = fallback  # the proposal the later steps review is the HPA's
            else:
                self._hold(state, f"no usable fallback ({fallback_problem}); holding the current replicas")
            return
        state.replicas = proposal

    @staticmethod
    def _hold(state: GuardState, message: str) -> None:
        current = int(state.inp.current_replicas)
        state.note(HOLD_REPLICAS, message, state.replicas, current)
        state.replicas = current
        state.held = True


class ClampStep:
    """Step 2: clamp to [min, max] (HPA reasons ``TooFewReplicas``/``TooManyReplicas``)."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds

    def reset(self) -> None:
        return None

    def apply(self, state: GuardState) -> None:
        state.replicas = self.bounds.clip_noted(
            state,
            state.replicas,
            below="the desired replica count is less than the minimum",
            above="the desired replica count is more than the maximum",
        )


class StabilizationStep:
    """Step 3: downscale stabilisation: the result is the maximum of the proposals of the last
    ``window_s`` seconds, this one included (the HPA's rule, 300 s by default:
    ``--horizontal-pod-autoscaler-downscale-stabilization``, reference/autoscalers.md §1.1, §1.6).

    Like the HPA, the first decision seeds the window with the current replica count, so a
    freshly (re)started controller cannot scale down within its first window: restarting
    mid-run is safe because the current replicas are re-read from the cluster (and the load
    history by ``Controller.warm_up``). Held decisions (stale metrics) neither use nor feed the
    window.
    """

    def __init__(self, window_s: float, bounds: Bounds | None = None) -> None:
        if not 0 <= window_s <= 3600:  # HPA API limit on stabilizationWindowSeconds
            raise ValueError(f"stabilization window_s must be in [0, 3600], got {window_s}")
        self.window_s = float(window_s)
        self.bounds = bounds
        # (time, replicas) with strictly decreasing replicas: a sliding-window maximum in O(1)
        # amortised per decision, however many decisions the window holds
        self._history: deque[tuple[float, int]] = deque()
        self._seeded = False

    def reset(self) -> None:
        self._history.clear()
        self._seeded = False

    def _push(self, time_s: float, replicas: int) -> None:
        while self._history and self._history[-1][1] <= replicas:
            self._history.pop()
        self._history.append((time_s, replicas))

    def recommendations(self) -> list[tuple[float, int]]:
        """The window's state, ``(time_s, replicas)`` oldest first: enough to rebuild its
        maximum (later, lower proposals are all that matter), so a few entries, not one a period."""
        return list(self._history)

    def restore(self, records: list[tuple[float, int]]) -> None:
        """Continue from :meth:`recommendations` saved by an earlier instance (times on this
        step's clock), instead of seeding the window with the current count: a restarted or
        newly elected controller scales down when the old one would have, not a window later."""
        self.reset()
        for time_s, replicas in sorted(records):
            self._push(float(time_s), int(replicas))
        self._seeded = bool(self._history)

    def apply(self, state: GuardState) -> None:
        if state.held or self.window_s == 0:  # a 0 s window: no stabilisation, not even the seed
            return
        now = float(state.inp.time_s)
        if not self._seeded:
            seed = int(state.inp.current_replicas)
            if self.bounds is not None:
                seed = self.bounds.clip(seed)
            self._push(now, seed)
            self._seeded = True
        while self._history and self._history[0][0] < now - self.window_s:
            self._history.popleft()
        proposal = state.replicas
        self._push(now, proposal)
        stabilised = self._history[0][1]  # monotonic deque: the front is the window's maximum
        if self.bounds is not None:
            stabilised = self.bounds.clip(stabilised)
        if stabilised > proposal:
            state.note(
                SCALE_DOWN_STABILIZED,
                f"recent recommendations were higher than the current one ({self.window_s:g} s window)",
                proposal,
                stabilised,
            )
            state.replicas = stabilised


@dataclass(frozen=True)
class RateLimits:
    """Max change per period, as the HPA ``behavior`` policies: for each direction a Pods and a
    Percent limit, combined with ``selectPolicy`` Max (the larger change wins, the HPA
    default) or Min. None disables that limit; both None in one direction means unlimited.
    Defaults are the HPA's scale-up defaults (4 pods or 100 % per 15 s, ``v2/defaults.go``,
    reference/autoscalers.md §1.1) and an unlimited scale-down (stabilisation slows it).
    """

    period_s: float = HPA_SCALE_UP_PERIOD_S
    up_pods: int | None = HPA_SCALE_UP_PODS
    up_percent: float | None = float(HPA_SCALE_UP_PERCENT)
    down_pods: int | None = None
    down_percent: float | None = None
    select: str = "Max"

    def __post_init__(self) -> None:
        if not 0 < self.period_s <= 1800:  # HPA API limit on periodSeconds
            raise ValueError(f"rate limit period_s must be in (0, 1800], got {self.period_s}")
        for name in ("up_pods", "up_percent", "down_pods", "down_percent"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"rate limit {name} must be > 0 or None, got {value}")
        if self.down_percent is not None and self.down_percent > 100:
            raise ValueError(f"rate limit down_percent must be <= 100, got {self.down_percent}")
        if self.select not in ("Max", "Min"):
            raise ValueError(f"rate limit select must be 'Max' or 'Min', got {self.select!r}")


class RateLimitStep:
    """Step 4: at most so much change per period (HPA Path B, reference/autoscalers.md §1.6).

    ``periodStart = current − added + removed`` over the scale events strictly newer than
    ``now − period_s``; up limit ``periodStart + pods`` / ``ceil(periodStart·(1+pct/100))``,
    down floor ``periodStart − pods`` / ``floor(periodStart·(1−pct/100))``. The result always
    stays in [min, max]: a current count outside the bounds is brought back at once, as the
    HPA's pre-check does (§1.2). Scale events are recorded by :meth:`record` for applied
    changes only (a dry run changes nothing in the cluster).
    """

    def __init__(self, limits: RateLimits, bounds: Bounds) -> None:
        self.limits = limits
        self.bounds = bounds
        self._events: deque[tuple[float, int]] = deque()  # (time_s, signed change)

    def reset(self) -> None:
        self._events.clear()

    def _period_start(self, now: float, current: int) -> int:
        while self._events and self._events[0][0] <= now - self.limits.period_s:
            self._events.popleft()
        added = sum(d for _, d in self._events if d > 0)
        removed = -sum(d for _, d in self._events if d < 0)
        return max(current - added + removed, 0)

    def limits_for(self, now: float, current: int) -> tuple[int, int]:
        """The (lowest, highest) replica count allowed now."""
        lim = self.limits
        start = self._period_start(now, current)
        pick_up, pick_down = (max, min) if lim.select == "Max" else (min, max)
        ups = []
        if lim.up_pods is not None:
            ups.append(start + int(lim.up_pods))
        if lim.up_percent is not None:
            ups.append(math.ceil(start * (1.0 + lim.up_percent / 100.0)))
        downs = []
        if lim.down_pods is not None:
            downs.append(start - int(lim.down_pods))
        if lim.down_percent is not None:
            downs.append(math.floor(start * (1.0 - lim.down_percent / 100.0)))
        high = max(pick_up(ups), current) if ups else self.bounds.max_replicas
        low = min(pick_down(downs), current) if downs else self.bounds.min_replicas
        return max(low, 0), high

    def apply(self, state: GuardState) -> None:
        now = float(state.inp.time_s)
        current = int(state.inp.current_replicas)
        low, high = self.limits_for(now, current)
        before = state.replicas
        after = min(max(before, low), high)
        if after < before:
            state.note(
                SCALE_UP_LIMIT, f"scale-up limited to {after} in {self.limits.period_s:g} s", before, after
            )
        elif after > before:
            state.note(
                SCALE_DOWN_LIMIT,
                f"scale-down limited to {after} in {self.limits.period_s:g} s",
                before,
                after,
            )
        # the bounds win over the rate limit (HPA pre-check: current outside [min, max])
        state.replicas = self.bounds.clip_noted(
            state,
            after,
            below="the current replica count is below the minimum",
            above="the current replica count is above the maximum",
        )

    def record(self, time_s: float, current: int, final: int) -> None:
        if final != current:
            self._events.append((float(time_s), int(final) - int(current)))


class DryRunStep:
    """Step 5: shadow mode. The decision is made and logged, the actuator does not patch."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def reset(self) -> None:
        return None

    def apply(self, state: GuardState) -> None:
        if self.enabled:
            state.dry_run = True
            state.note(DRY_RUN, "dry run: decided but not applied", state.replicas, state.replicas)


@dataclass(frozen=True)
class GuardConfig:
    """The guard's settings for one target. ``stabilization_window_s`` defaults to the HPA's
    300 s (reference/autoscalers.md §1.1); a fast test preset shortens it."""

    min_replicas: int
    max_replicas: int
    stabilization_window_s: float = HPA_DOWNSCALE_STABILIZATION_S
    rate_limits: RateLimits | None = field(default_factory=RateLimits)
    fallback: bool = True
    dry_run: bool = False


class Guard:
    """The ordered chain: validate → clamp → stabilise → rate-limit → dry-run.

    ``review(GuardInput) -> Decision``. The final replica count is always within
    [min_replicas, max_replicas] whatever the inputs (a property test checks it).
    """

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.bounds = Bounds(config.min_replicas, config.max_replicas)
        self.validate = ValidateStep(fallback=config.fallback)
        self.clamp = ClampStep(self.bounds)
        self.stabilize = StabilizationStep(config.stabilization_window_s, self.bounds)
        self.rate_limit = (
            RateLimitStep(config.rate_limits, self.bounds) if config.rate_limits is not None else None
        )
        self.dry_run = DryRunStep(config.dry_run)

    @property
    def steps(self) -> list[GuardStep]:
        steps: list[GuardStep] = [self.validate, self.clamp, self.stabilize]
        if self.rate_limit is not None:
            steps.append(self.rate_limit)
        steps.append(self.dry_run)
        return steps

    def reset(self) -> None:
        for step in self.steps:
            step.reset()

    def review(self, inp: GuardInput) -> Decision:
        current = int(inp.current_replicas)
        proposed, _ = as_replica_count(inp.proposal)
        state = GuardState(inp=inp, replicas=current, proposed=proposed if proposed is not None else -1)
        for step in self.steps:
            step.apply(state)
        final = self.bounds.clip(state.replicas)  # invariant; every path above already respects it
        if self.rate_limit is not None and not state.dry_run:
            self.rate_limit.record(inp.time_s, current, final)
        return Decision(
            time_s=float(inp.time_s),
            current_replicas=current,
            proposed_replicas=state.proposed,
            final_replicas=final,
            reasons=tuple(state.reasons),
            dry_run=state.dry_run,
            inputs=dict(inp.inputs),
        )
