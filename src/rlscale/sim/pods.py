"""The simulator's pods one by one: when each started and when it becomes (or became) ready.

Why per pod: ``ServiceParams`` draws a start-up delay per pod, and the HPA judges each ready
pod's CPU sample against that pod's own readiness time (reference/autoscalers.md §1.4), so
counts per delay are not enough.

Layout: one int64 key per pod in an ``(n, max_replicas)`` array, sorted ascending along each
row with the empty slots (:data:`EMPTY`) last. A key packs ``(ready_step, start_step)``
(global step indices, :data:`_OFFSET` added so a warm start's "long ago" is 0), so the row's
order is the order a ReplicaSet removes pods in, backwards: removing from the end takes the
pods that are not ready yet, latest-due first, then the ready ones that became ready last
(``controller.ActivePodsWithRanks``: not-ready before ready, ready for a shorter time first,
then newer first; its ``LogarithmicScaleDown`` log2 buckets of ready time and random tie-break
are not modelled). A pod with ``ready_step <= s`` serves in step ``s``.
"""

from __future__ import annotations

import numpy as np

#: An empty slot: sorts after every pod.
EMPTY = np.iinfo(np.int64).max
_SHIFT = 31
_OFFSET = 1 << 30
_LOW = (1 << _SHIFT) - 1
#: Stored step of the pods of a warm start: "ready and started long before the run".
LONG_AGO = 0


def key(ready_step: np.ndarray | int, start_step: np.ndarray | int) -> np.ndarray:
    """Pack global step indices (``>= -2**30``) into sortable keys."""
    return ((np.asarray(ready_step, dtype=np.int64) + _OFFSET) << _SHIFT) | (
        np.asarray(start_step, dtype=np.int64) + _OFFSET
    )


def warm_keys(num_envs: int, width: int, ready: np.ndarray) -> np.ndarray:
    """A ledger whose row ``i`` holds ``ready[i]`` pods ready since long before the run."""
    keys = np.full((num_envs, width), EMPTY, dtype=np.int64)
    keys[np.arange(width) < np.asarray(ready)[:, None]] = LONG_AGO
    return keys


def count_ready(keys: np.ndarray, step: int) -> np.ndarray:
    """Pods per row that serve in global step ``step`` (``ready_step <= step``). The count is a
    product with a vector of ones: exact (counts far below 2**53) and ~2x faster than
    ``count_nonzero(axis=1)`` on rows this short (the simulator counts twice a step)."""
    serving = (keys < ((step + 1 + _OFFSET) << _SHIFT)).astype(np.float64)
    return (serving @ np.ones(keys.shape[1])).astype(np.int64)


def steps(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ready_step, start_step)`` of each key (meaningless on empty slots)."""
    return (keys >> _SHIFT) - _OFFSET, (keys & _LOW) - _OFFSET


def add(
    keys: np.ndarray, rows: np.ndarray, new_keys: np.ndarray, new_count: np.ndarray, have: np.ndarray
) -> None:
    """Append ``new_count[j]`` pods with keys ``new_keys[j, :new_count[j]]`` to row ``rows[j]``,
    which holds ``have[j]`` pods, and keep the row sorted (in place). The caller keeps every
    row within its width."""
    sub = keys[rows]
    col = np.arange(new_keys.shape[1])
    take = col < new_count[:, None]
    r, c = np.nonzero(take)
    sub[r, have[r] + c] = new_keys[r, c]
    sub.sort(axis=1)
    keys[rows] = sub


def remove_last(keys: np.ndarray, remove: np.ndarray, have: np.ndarray) -> None:
    """Remove ``remove[i]`` pods from the end of row ``i``, which holds ``have[i]`` pods (the
    ReplicaSet's choice), in place."""
    col = np.arange(keys.shape[1])
    drop = (col >= (have - np.minimum(remove, have))[:, None]) & (col < have[:, None])
    keys[drop] = EMPTY
