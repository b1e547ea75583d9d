"""Bootstrapping from the HPA (AWARE §3.4; seed 004's "bootstrapping episodes"): behaviour
cloning of the HPA's decisions on training windows, expressed in the learner's action space,
before RL takes over. The hand-over is guarded by the reward the HPA achieves: the trainer
only promotes an RL model to "best" once it scores better on validation than the cloned HPA
(see rlscale.agents.train)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th

from rlscale.agents.rollout import run_policy
from rlscale.core.actions import ActionConfig
from rlscale.core.observation import Forecaster, ObservationBuilder
from rlscale.core.signals import ScalingSignals
from rlscale.policies.hpa import HPAPolicy
from rlscale.sim.params import ServiceParams


def hpa_demonstrations(
    params: ServiceParams,
    rate_windows: Sequence[np.ndarray],
    action: ActionConfig,
    *,
    target_utilization_pct: int = 70,
    seed: int = 0,
    forecaster: Forecaster | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(observations, actions) of the HPA on ``rate_windows`` (equal lengths), with each HPA
    decision mapped to the learner's raw action that decodes to the same replica count."""
    spec = params.spec
    builder = ObservationBuilder(spec, len(rate_windows), forecaster)
    obs_list: list[np.ndarray] = []
    act_list: list[np.ndarray] = []

    def record(t: int, sig: ScalingSignals, desired: np.ndarray, *_: object) -> None:
        obs_list.append(builder.build(sig))
        act_list.append(action_for(action, sig, desired, spec.pod_capacity_rps))

    run_policy(
        params,
        lambda s, n: HPAPolicy(s, n, target_utilization_pct=target_utilization_pct),
        rate_windows,
        seed=seed,
        record=record,
    )
    return np.concatenate(obs_list), np.concatenate(act_list)


def teacher_demonstrations(
    params: ServiceParams,
    rate_windows: Sequence[np.ndarray],
    action: ActionConfig,
    *,
    seed: int = 0,
    rule: tuple[tuple[float, float, int], ...] | None = None,
    forecaster: Forecaster | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(observations, ``hold_target`` action indices) of the scale-aware rule
    (:mod:`rlscale.agents.teacher`; ``rule`` None = its fixed default) on ``rate_windows``
    (equal lengths)."""
    from rlscale.agents.teacher import SCALE_AWARE_RULE, ScaleAwarePolicy, scale_aware_actions

    rule = SCALE_AWARE_RULE if rule is None else rule
    if action.mode != "hold_target":
        raise ValueError(f"teacher demonstrations need the hold_target action mode, got {action.mode!r}")
    spec = params.spec
    builder = ObservationBuilder(spec, len(rate_windows), forecaster)
    obs_list: list[np.ndarray] = []
    act_list: list[np.ndarray] = []

    def record(t: int, sig: ScalingSignals, *_: object) -> None:
        obs_list.append(builder.build(sig))
        act_list.append(scale_aware_actions(action, sig, spec, rule))

    run_policy(
        params, lambda s, n: ScaleAwarePolicy(s, n, action, rule), rate_windows, seed=seed, record=record
    )
    return np.concatenate(obs_list), np.concatenate(act_list)


def action_for(
    action: ActionConfig, sig: ScalingSignals, desired: np.ndarray, capacity_rps: float
) -> np.ndarray:
    """The raw action whose decoding (core.actions) gives ``desired`` (or the nearest move)."""
    desired = np.asarray(desired, dtype=np.float64)
    if action.mode == "utilization":
        lo, hi = action.utilization_range
        rate = np.nan_to_num(np.asarray(sig.request_rate_rps, dtype=np.float64), nan=0.0)
        u = np.where(rate > 0, rate / (capacity_rps * np.maximum(desired, 1.0)), hi)
        return np.clip(2.0 * (u - lo) / (hi - lo) - 1.0, -1.0, 1.0).astype(np.float32)[:, None]
    if action.mode == "delta":
        cur = np.asarray(sig.desired_replicas, dtype=np.float64)
        deltas = np.asarray(action.deltas, dtype=np.float64)
        return np.argmin(np.abs((desired - cur)[:, None] - deltas[None, :]), axis=1).astype(np.int64)
    if action.mode == "ratio":
        cur = np.maximum(np.asarray(sig.desired_replicas, dtype=np.float64), 1.0)
        ratios = np.asarray(action.ratios, dtype=np.float64)
        return np.argmin(np.abs(np.log(desired.clip(1) / cur)[:, None] - np.log(ratios)[None, :]), axis=1)
    raise ValueError(f"behaviour cloning does not support action mode {action.mode!r}")


def behaviour_clone(
    model: Any,
    observations: np.ndarray,
    actions: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """Fit an SB3 actor-critic's policy to demonstrations (MSE on the mean action for Box
    spaces, cross-entropy for Discrete). Returns the final epoch's mean loss."""
    policy = model.policy
    opt = th.optim.Adam(policy.parameters(), lr=lr)
    gen = np.random.default_rng(seed)
    obs_t = th.as_tensor(observations, dtype=th.float32)
    act_t = th.as_tensor(actions)
    discrete = hasattr(model.action_space, "n")
    last = 0.0
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = gen.permutation(len(obs_t))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = th.as_tensor(order[i : i + batch_size])
            dist = policy.get_distribution(obs_t[idx])
            if discrete:
                loss = th.nn.functional.cross_entropy(dist.distribution.logits, act_t[idx].long())
            else:
                loss = th.nn.functional.mse_loss(dist.distribution.mean, act_t[idx].float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        last = float(np.mean(losses))
    policy.set_training_mode(False)
    return last
