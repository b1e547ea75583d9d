"""Baselines for the GPU/CPU pools problem (seed 003): static all-GPU, all-CPU and balanced
fleets. A pools policy maps the per-pool ready counts and the offered rate to desired counts
per pool ``(n, P)`` and a placement index per service (0 prefer GPU, 1 proportional,
2 prefer CPU). NumPy only."""

from __future__ import annotations

import os

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.core.spec import ServiceSpec


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


class HPAPoolsPolicy:
    """One Kubernetes HPA per pool, each on its own pool's CPU utilisation, load split in
    proportion to ready capacity (placement 1). What a cluster gets from two Deployments with
    an HPA each; ``min_replicas`` 1 because the HPA cannot scale from zero (its metric needs a
    ready pod; ``HPAScaleToZero`` is an alpha feature gate, reference/autoscalers.md §1)."""

    name = "hpa-per-pool"

    def __init__(
        self,
        specs: tuple[ServiceSpec, ...],
        num_envs: int = 1,
        target_utilization_pct: int | None = None,
        min_replicas: int = 1,
    ) -> None:
        from rlscale.policies.hpa import HPA_DEFAULT_CPU_UTILIZATION_PCT, HPAPolicy

        target = HPA_DEFAULT_CPU_UTILIZATION_PCT if target_utilization_pct is None else target_utilization_pct
        self.num_envs = num_envs
        self.hpas = [
            HPAPolicy(s, num_envs, target_utilization_pct=target, min_replicas=min_replicas) for s in specs
        ]

    def reset(self, mask: np.ndarray | None = None) -> None:
        for h in self.hpas:
            h.reset(mask)

    def act(self, per_pool: list[ScalingSignals]) -> tuple[np.ndarray, np.ndarray]:
        if len(per_pool) != len(self.hpas):
            raise ValueError(f"{self.name}: got signals for {len(per_pool)} pools, expected {len(self.hpas)}")
        desired = np.stack([h.act(s) for h, s in zip(self.hpas, per_pool, strict=True)], axis=1)
        return desired.astype(np.int64), np.full(desired.shape[0], 1, dtype=np.int64)


#: Action mode a pools checkpoint declares (``metadata.action.mode``): per-pool replica
#: deltas plus a placement index, ``MultiDiscrete(nvec)`` (envs.pools.PoolsEnv).
POOLS_ACTION_MODE = "pools_multidiscrete"
#: The observation ``envs.pools.pools_observation`` builds for a GPU and a CPU pool, in order.
POOLS_OBSERVATION_FEATURES: tuple[str, ...] = (
    "load_per_max_capacity",
    "load_trend",
    "gpu_ready_fraction",
    "gpu_pending_fraction",
    "gpu_cpu_utilization",
    "cpu_ready_fraction",
    "cpu_pending_fraction",
    "cpu_cpu_utilization",
    "last_failed_fraction",
    "placement_prefer_gpu",
    "placement_proportional",
    "placement_prefer_cpu",
)


class LearnedPoolsPolicy:
    """A trained pools policy from a safe checkpoint (``rlscale.nets.checkpoint``: safetensors
    weights + JSON metadata): greedy action per segment of the multi-discrete head, applied as
    deltas to the current desired counts exactly as ``PoolsEnv.step`` does."""

    def __init__(self, path: str | os.PathLike[str], num_envs: int = 1) -> None:
        from rlscale.nets.checkpoint import CheckpointError, load_checkpoint

        ckpt = load_checkpoint(
            path, expected_features=POOLS_OBSERVATION_FEATURES, expected_action_mode=POOLS_ACTION_MODE
        )
        action = ckpt.metadata["action"]
        try:
            self.nvec = [int(v) for v in action["nvec"]]
            self.deltas = np.asarray(action["deltas"], dtype=np.int64)
            self.max_replicas = np.asarray(action["max_replicas"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: metadata.action needs nvec, deltas and max_replicas ({exc})"
            ) from None
        out = int(ckpt.tensors[ckpt.layers[-1]["weight"]].shape[0])
        if out != sum(self.nvec) or len(self.nvec) != self.max_replicas.size + 1:
            raise CheckpointError(
                f"{path}: network output {out} does not match action nvec {self.nvec} for "
                f"{self.max_replicas.size} pools"
            )
        self.checkpoint = ckpt
        self.name = f"learned:{ckpt.metadata.get('algorithm', 'policy')}"
        self.num_envs = num_envs

    def reset(self, mask: np.ndarray | None = None) -> None:
        del mask

    def act(self, observation: np.ndarray, current_desired: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from rlscale.nets.forward import deterministic_action, mlp_forward

        raw = mlp_forward(self.checkpoint.tensors, self.checkpoint.layers, observation)
        picks = deterministic_action(raw, {"head": "argmax", "nvec": self.nvec}).T
        steps = self.deltas[picks[:-1]].T
        desired = np.clip(np.asarray(current_desired, dtype=np.int64) + steps, 0, self.max_replicas[None, :])
        empty = desired.sum(axis=1) == 0
        desired[empty, -1] = 1  # keep one pod somewhere, as the env does
        return desired, picks[-1].astype(np.int64)
