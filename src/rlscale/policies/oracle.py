"""The clairvoyant oracle: the cheapest replica schedule that keeps the SLO, knowing the future.

It is the physical limit every result is read against (DESIGN.md §5). The evaluation engineer
computes the demand series ``d_t`` (the fewest ready replicas that keep the SLO in period
``t``, from the simulator's queueing model); this module only plans around the start-up delay.

Model. Time is in decision periods. A pod costs one pod-step for every period it exists,
from the period it is created in; it serves from ``D`` periods after its creation
(``startup_steps``); removal is instant and free. The replicas desired at step 0 are
ready at step 0 (every window starts warm).

Algorithm (exact). Decompose demand into replica *layers* ``k = 1..max(d)``: layer ``k``
is needed at the steps ``{t : d_t >= k}``. Layers are independent, since pods are
interchangeable. For one layer, every needed interval must be covered by a pod created
``D`` steps before the interval starts; between two needed intervals with a gap of ``g``
steps, keeping the pod costs ``g`` and removing and re-creating it costs ``D`` (the pending
steps), so the pod is kept iff ``g <= D``. Either way the layer exists at step ``t`` exactly
when it is needed somewhere in ``[t, t + D]``, so the number of layers alive or pending is

    ``x_t = max(d_t, d_{t+1}, ..., d_{t+D})``  (a forward rolling maximum; beyond the end, 0).

It is optimal step by step, not just in total: a pod that serves at ``t + j`` (``0 <= j <= D``)
was created at or before ``t + j − D <= t`` and, removal being final, exists at ``t``; so any
feasible schedule has ``x_t >= d_{t+j}`` for every such ``j``. The rolling maximum is computed
with ``O(T log D)`` vectorised maxima (doubling), so 10^5 steps take milliseconds. The plan is
clipped to ``[min_replicas, max_replicas]``; demand above ``max_replicas`` cannot be met and
the plan then holds ``max_replicas``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec
from rlscale.policies._common import check_batch, env_mask


def forward_window_max(values: np.ndarray, width: int) -> np.ndarray:
    """``out[t] = max(values[t : t + width])`` (the window shrinks at the end)."""
    x = np.asarray(values)
    if width < 1:
        raise ValueError(f"forward_window_max: width must be >= 1, got {width}")
    if x.size == 0 or width == 1:
        return x.copy()
    n = x.shape[0]
    fill = np.iinfo(x.dtype).min if np.issubdtype(x.dtype, np.integer) else -np.inf
    padded = np.concatenate([x, np.full(width, fill, dtype=x.dtype)])
    span = 1
    m = padded
    while span * 2 <= width:  # m[t] = max(padded[t : t + 2·span])
        m = np.maximum(m[:-span], m[span:])
        span *= 2
    # combine two overlapping power-of-two windows covering [t, t + width)
    return np.maximum(m[:n], m[width - span : width - span + n])


def plan_oracle_schedule(
    demand: Sequence[int] | np.ndarray, startup_steps: int, min_replicas: int, max_replicas: int
) -> np.ndarray:
    """The minimum-cost desired-replica schedule that has ``d_t`` pods ready at every step.

    ``demand``: int array, the fewest ready replicas meeting the SLO in each period.
    ``startup_steps``: ``D``, periods from creation to ready (use the maximum of the
    simulator's start-up jitter, so the plan holds for every draw). Returns int64 of the same
    length: ``clip(max(d_t..d_{t+D}), min_replicas, max_replicas)`` (see the module docstring
    for why this is the layer-by-layer optimum).
    """
    d = np.asarray(demand)
    if d.ndim != 1:
        raise ValueError(f"plan_oracle_schedule: demand must be 1-D, got shape {d.shape}")
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError("plan_oracle_schedule: demand has NaN or infinite entries")
    if d.size and np.any(d < 0):
        raise ValueError(f"plan_oracle_schedule: demand must be >= 0, got min {d.min()}")
    if startup_steps < 0:
        raise ValueError(f"plan_oracle_schedule: startup_steps must be >= 0, got {startup_steps}")
    if not 0 <= min_replicas <= max_replicas:
        raise ValueError(
            f"plan_oracle_schedule: need 0 <= min_replicas <= max_replicas, got {min_replicas}..{max_replicas}"
        )
    d = np.ceil(d).astype(np.int64)
    plan = forward_window_max(d, int(startup_steps) + 1)
    return np.clip(plan, min_replicas, max_replicas).astype(np.int64)


def ready_replicas_of_schedule(schedule: np.ndarray, startup_steps: int) -> np.ndarray:
    """Ready pods per step when ``schedule`` is applied: pods are created when the desired count
    rises, the youngest are removed first when it falls (pending before ready, as a ReplicaSet
    does), a pod is ready ``startup_steps`` after creation, and the step-0 pods are ready
    (warm start). A per-step loop: for tests and small checks, not for long series."""
    pods: list[int] = []  # creation steps, oldest first
    ready = np.zeros(len(schedule), dtype=np.int64)
    for t, want in enumerate(np.asarray(schedule, dtype=np.int64).tolist()):
        if t == 0:
            pods = [-(10**9)] * want
        elif want > len(pods):
            pods.extend([t] * (want - len(pods)))
        else:
            del pods[want:]
        ready[t] = sum(1 for c in pods if c <= t - startup_steps)
    return ready


class OraclePolicy:
    """Replays one precomputed schedule per env, indexed by a per-env step counter.

    ``schedules``: a ``(num_envs, T)`` array or a list of ``num_envs`` 1-D arrays (lengths may
    differ). ``act`` returns ``schedule[i][k_i]`` and advances ``k_i``; past the end it holds the
    last value. ``reset(mask)`` restarts the masked envs at index 0. The signals are not read
    (beyond the batch size): the oracle already knows the future.
    """

    name = "oracle"

    def __init__(
        self, spec: ServiceSpec, num_envs: int, schedules: np.ndarray | Sequence[np.ndarray]
    ) -> None:
        rows = [np.asarray(s) for s in schedules]
        if len(rows) != num_envs:
            raise ValueError(f"oracle: got {len(rows)} schedules for num_envs={num_envs}")
        for i, r in enumerate(rows):
            if r.ndim != 1 or r.size == 0:
                raise ValueError(f"oracle: schedule {i} must be a non-empty 1-D array, got shape {r.shape}")
            if not np.all(np.isfinite(r)) or np.any(r < 0):
                raise ValueError(f"oracle: schedule {i} has negative or non-finite entries")
        self.spec = spec
        self.num_envs = int(num_envs)
        self.lengths = np.array([r.size for r in rows], dtype=np.int64)
        table = np.zeros((num_envs, int(self.lengths.max())), dtype=np.int64)
        for i, r in enumerate(rows):
            table[i, : r.size] = np.rint(r).astype(np.int64)
            table[i, r.size :] = table[i, r.size - 1]
        self._table = table
        self._index = np.zeros(num_envs, dtype=np.int64)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        check_batch(signals, self.num_envs, self.name)
        k = np.minimum(self._index, self._table.shape[1] - 1)
        out = self._table[np.arange(self.num_envs), k]
        self._index += 1
        return out

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._index[env_mask(mask, self.num_envs, self.name)] = 0
