"""Baselines for the GPU/CPU pools problem (seed 003): static all-GPU, all-CPU and balanced
fleets. A pools policy maps the per-pool ready counts and the offered rate to desired counts
per pool ``(n, P)`` and a placement index per service (0 prefer GPU, 1 proportional,
2 prefer CPU). NumPy only."""

from __future__ import annotations

import numpy as np


class StaticPoolsPolicy:
    """Fixed pod counts per pool and a fixed placement (seed 003's static baselines)."""

    def __init__(self, name: str, replicas: tuple[int, ...], num_envs: int = 1, placement: int = 1) -> None:
        if any(r < 0 for r in replicas):
            raise ValueError(f"{name}: replica counts must be >= 0, got {replicas}")
        if placement not in (0, 1, 2):
            raise ValueError(f"{name}: placement must be 0, 1 or 2, got {placement}")
        self.name = name
        self.replicas = tuple(int(r) for r in replicas)
        self.num_envs = num_envs
        self.placement = placement

    def reset(self, mask: np.ndarray | None = None) -> None:
        del mask

    def act(self, request_rate_rps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = np.shape(request_rate_rps)[0]
        return np.tile(np.asarray(self.replicas, dtype=np.int64), (n, 1)), np.full(
            n, self.placement, dtype=np.int64
        )


def static_baselines(
    peak_rps: float,
    capacity_rps: tuple[float, float],
    max_replicas: tuple[int, int],
    target_utilization: float = 0.7,
    num_envs: int = 1,
) -> list[StaticPoolsPolicy]:
    """All-GPU, all-CPU and balanced (half the peak on each pool) fleets sized for ``peak_rps``
    at ``target_utilization`` (the HPA-like 70 % headroom; reference/autoscalers.md §4.1),
    each clipped to its pool's maximum."""
    gpu_cap, cpu_cap = capacity_rps

    def pods(rate: float, cap: float, hi: int) -> int:
        return int(min(max(np.ceil(rate / (cap * target_utilization) - 1e-9), 1), hi))

    return [
        StaticPoolsPolicy("all-gpu", (pods(peak_rps, gpu_cap, max_replicas[0]), 0), num_envs, placement=1),
        StaticPoolsPolicy("all-cpu", (0, pods(peak_rps, cpu_cap, max_replicas[1])), num_envs, placement=1),
        StaticPoolsPolicy(
            "balanced",
            (pods(peak_rps / 2, gpu_cap, max_replicas[0]), pods(peak_rps / 2, cpu_cap, max_replicas[1])),
            num_envs,
            placement=1,
        ),
    ]
