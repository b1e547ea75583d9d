"""Seconds to whole decision periods, one rounding for every caller.

A duration covers ``ceil(seconds / step_s)`` periods: a pod ready mid-period serves from the
next one, a window of 61 s at 15 s steps needs 5 samples. The simulator's clock and the
configured durations are float sums, so ``45 / 15`` may come out as ``3.0000000000000004``;
the ``STEP_ROUNDING_EPS_S``-sized slack keeps an exact multiple from rounding up to one more
period. The simulator, the emulated cluster, the budget windows and the policies all count
periods this way, so they agree on when a pod is ready.
"""

from __future__ import annotations

from typing import overload

import numpy as np

#: Relative slack (in periods) below which a quotient counts as the whole number under it.
STEP_ROUNDING_EPS = 1e-9


@overload
def seconds_to_steps(seconds: float, step_s: float) -> int: ...
@overload
def seconds_to_steps(seconds: np.ndarray, step_s: float) -> np.ndarray: ...


def seconds_to_steps(seconds: float | np.ndarray, step_s: float) -> int | np.ndarray:
    """Whole periods of ``step_s`` that cover ``seconds`` (rounded up; an exact multiple up to
    float noise is not): an ``int`` for a scalar, an int64 array for an array."""
    steps = np.ceil(np.asarray(seconds, dtype=np.float64) / step_s - STEP_ROUNDING_EPS).astype(np.int64)
    return int(steps) if steps.ndim == 0 else steps
