"""The SLO error budget as a control input: burn rates over sliding windows, and the feedback
that turns them into headroom (DESIGN.md §7, issue 13).

Conventions (the same offline and live, so a budget means the same thing everywhere):

* A period's **violation fraction** is the share of its requests that took longer than the
  latency SLO or were dropped (the request-level rate of ``evaluation.metrics``, one period at
  a time). The simulator reports it lagged like every metric; live it comes from a latency
  histogram in Prometheus. NaN = unknown: the period counts in no window.
* The **burn rate** over a window is ``(Σ bad requests / Σ requests) / budget``: 1 spends the
  budget exactly as fast as it accrues, 14.4 spends a 30-day budget's 2 % in one hour (Google
  SRE Workbook, "Alerting on SLOs", multiwindow multi-burn-rate alerts).
* The **feedback** is one number per service, ``headroom`` = a factor on the target
  utilisation the policy chose (< 1: more pods than the policy asked for). It is an AIMD
  loop on the two windows, as TCP does for a congestion window: cut quickly while the short
  window burns faster than the budget allows, give back slowly while the long window shows
  budget to spare. It needs no model of the load, so it carries to services and traces no
  training run has seen; the network still decides *when* and *how* to size, the loop only
  decides how much margin the user's budget can afford.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Short and long burn-rate windows, seconds: the 5-minute / 1-hour pair of the SRE
#: Workbook's multiwindow alerts (ch. 5, "Alerting on SLOs", table 5-8) — the short one says
#: "burning now", the long one "the budget is really being spent".
BURN_WINDOWS_S: tuple[float, float] = (300.0, 3600.0)


def window_steps(window_s: float, step_s: float) -> int:
    """Whole decision periods in a window (at least one)."""
    return max(1, math.ceil(window_s / step_s - 1e-9))


class BurnRateEstimator:
    """Sliding-window sums of bad and total requests per service, batched over ``num_envs``.

    ``update`` takes one period's violation fraction and request rate; ``burn_rates(budget)``
    returns ``(n, len(windows))``: NaN where a window has seen no request yet. Exact window
    sums (a ring buffer, not an exponential average), so the estimate can be checked by hand.
    """

    def __init__(self, num_envs: int, step_s: float, windows_s: tuple[float, ...] = BURN_WINDOWS_S) -> None:
        if num_envs < 1 or not step_s > 0 or not windows_s:
            raise ValueError(
                f"BurnRateEstimator: need num_envs >= 1, step_s > 0 and a window, got {num_envs}, {step_s}, {windows_s}"
            )
        self.step_s = float(step_s)
        self.windows_steps = tuple(window_steps(w, step_s) for w in windows_s)
        size = max(self.windows_steps)
        self._bad = np.zeros((size, num_envs))
        self._total = np.zeros((size, num_envs))
        self._t = 0

    @property
    def num_envs(self) -> int:
        return int(self._bad.shape[1])

    def update(self, violation_fraction: np.ndarray, request_rate_rps: np.ndarray) -> None:
        """Record one period. Unknown (NaN) fractions or rates record nothing for that service."""
        frac = np.asarray(violation_fraction, dtype=np.float64)
        rate = np.asarray(request_rate_rps, dtype=np.float64)
        known = np.isfinite(frac) & np.isfinite(rate)
        total = np.where(known, np.maximum(rate, 0.0) * self.step_s, 0.0)
        slot = self._t % self._bad.shape[0]
        self._total[slot] = total
        self._bad[slot] = np.where(known, np.clip(frac, 0.0, 1.0), 0.0) * total
        self._t += 1

    def bad_fractions(self) -> np.ndarray:
        """``(n, windows)`` share of bad requests per window (NaN: no request seen)."""
        size = self._bad.shape[0]
        out = np.full((self.num_envs, len(self.windows_steps)), np.nan)
        for j, w in enumerate(self.windows_steps):
            idx = (self._t - 1 - np.arange(min(w, self._t, size))) % size
            total = self._total[idx].sum(axis=0)
            bad = self._bad[idx].sum(axis=0)
            out[:, j] = np.divide(bad, total, out=np.full_like(total, np.nan), where=total > 0)
        return out

    def burn_rates(self, budget: float | np.ndarray) -> np.ndarray:
        """``(n, windows)`` burn rates against ``budget`` (a fraction, per service or one)."""
        return self.bad_fractions() / np.reshape(np.asarray(budget, dtype=np.float64), (-1, 1))

    def reset(self, mask: np.ndarray | None = None) -> None:
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        self._bad[:, sel] = 0.0
        self._total[:, sel] = 0.0


@dataclass(frozen=True)
class FeedbackConfig:
    """The AIMD loop's constants (stored with a checkpoint's action config as JSON).

    Defaults are stated in time, not steps, so they mean the same at any decision period:
    while the short window burns faster than the budget, headroom shrinks by ``cut_per_min``
    per minute (×0.8: a five-minute burst at 2× the budget halves the margin-free utilisation
    at most three times over); while the long window burns under ``spare_burn`` of the budget
    and the short one under 1, it grows by ``grow_per_hour`` (×1.25 an hour: a margin found
    in one bad burst is given back over a few calm hours). Chosen on the training splits'
    validation windows (docs/learning.md), never on a test trace.
    """

    cut_per_min: float = 0.8
    grow_per_hour: float = 1.25
    spare_burn: float = 0.5
    cut_long_burn: float = 1.0
    min_headroom: float = 0.25
    max_headroom: float = 1.3

    def __post_init__(self) -> None:
        if not 0 < self.cut_per_min < 1:
            raise ValueError(f"FeedbackConfig.cut_per_min must be in (0, 1), got {self.cut_per_min}")
        if not self.grow_per_hour > 1:
            raise ValueError(f"FeedbackConfig.grow_per_hour must be > 1, got {self.grow_per_hour}")
        if not 0 < self.spare_burn <= 1:
            raise ValueError(f"FeedbackConfig.spare_burn must be in (0, 1], got {self.spare_burn}")
        if not 0 < self.min_headroom <= 1 <= self.max_headroom:
            raise ValueError(
                "FeedbackConfig: need 0 < min_headroom <= 1 <= max_headroom, "
                f"got {self.min_headroom}, {self.max_headroom}"
            )

    def to_dict(self) -> dict[str, float]:
        return {
            "cut_per_min": self.cut_per_min,
            "grow_per_hour": self.grow_per_hour,
            "spare_burn": self.spare_burn,
            "cut_long_burn": self.cut_long_burn,
            "min_headroom": self.min_headroom,
            "max_headroom": self.max_headroom,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeedbackConfig:
        known = cls().to_dict()
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"FeedbackConfig: unknown fields {sorted(unknown)}")
        return cls(**{k: float(data.get(k, v)) for k, v in known.items()})  # type: ignore[arg-type]


#: Why the headroom moved this period (``BudgetFeedback.last_reason``), per service.
REASON_CUT = "burning"  # short window over budget: headroom cut
REASON_GROW = "spare"  # long window well under budget: headroom given back
REASON_HOLD = "hold"  # neither (or unknown): headroom kept
REASON_UNKNOWN = "no_slo_signal"


class BudgetFeedback:
    """Per-service headroom factor driven by the error-budget burn rate (AIMD, see module doc)."""

    def __init__(
        self,
        num_envs: int,
        step_s: float,
        budget: float | np.ndarray,
        config: FeedbackConfig | None = None,
    ) -> None:
        self.config = config or FeedbackConfig()
        budget_arr = np.broadcast_to(np.asarray(budget, dtype=np.float64), (num_envs,)).copy()
        if not np.all((budget_arr > 0) & (budget_arr < 1)):
            raise ValueError(f"BudgetFeedback: the SLO budget must be in (0, 1), got {budget}")
        self.budget = budget_arr
        self.estimator = BurnRateEstimator(num_envs, step_s)
        minutes = step_s / 60.0
        self._cut = self.config.cut_per_min**minutes
        self._grow = self.config.grow_per_hour ** (step_s / 3600.0)
        self.headroom = np.ones(num_envs)
        self.last_reason = np.full(num_envs, REASON_HOLD, dtype=object)

    @property
    def num_envs(self) -> int:
        return int(self.headroom.shape[0])

    def update(self, violation_fraction: np.ndarray, request_rate_rps: np.ndarray) -> np.ndarray:
        """Record one period and return the new headroom factors ``(n,)``."""
        self.estimator.update(violation_fraction, request_rate_rps)
        burn = self.estimator.burn_rates(self.budget)
        short, long_ = burn[:, 0], burn[:, -1]
        cut = np.isfinite(short) & (short > 1.0) & ~(long_ <= self.config.cut_long_burn)
        grow = ~cut & np.isfinite(long_) & (long_ < self.config.spare_burn) & ~(short >= 1.0)
        factor = np.where(cut, self._cut, np.where(grow, self._grow, 1.0))
        self.headroom = np.clip(self.headroom * factor, self.config.min_headroom, self.config.max_headroom)
        unknown = ~np.isfinite(np.asarray(violation_fraction, dtype=np.float64))
        self.last_reason = np.where(
            cut, REASON_CUT, np.where(grow, REASON_GROW, np.where(unknown, REASON_UNKNOWN, REASON_HOLD))
        ).astype(object)
        return self.headroom

    def burn_rates(self) -> np.ndarray:
        """``(n, 2)`` current short- and long-window burn rates (NaN: no request seen)."""
        return self.estimator.burn_rates(self.budget)

    def reset(self, mask: np.ndarray | None = None) -> None:
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
        self.estimator.reset(mask)
        self.headroom[sel] = 1.0
        self.last_reason[sel] = REASON_HOLD

    def warm(self, violation_fractions: np.ndarray, rates_rps: np.ndarray) -> None:
        """Replay past periods (``(T, n)`` or ``(T,)``, oldest first): a restart keeps its margin."""
        fr = np.asarray(violation_fractions, dtype=np.float64).reshape(len(violation_fractions), -1)
        rr = np.asarray(rates_rps, dtype=np.float64).reshape(len(rates_rps), -1)
        for f, r in zip(fr, rr, strict=True):
            self.update(np.broadcast_to(f, (self.num_envs,)), np.broadcast_to(r, (self.num_envs,)))
