"""The learned policy: a trained network run in NumPy from a safe checkpoint.

Imported by the live controller, so no torch, gymnasium, simulator or envs here (import-linter
enforces it): the checkpoint is read by the torch-free :mod:`rlscale.nets.checkpoint`, the
network runs in :mod:`rlscale.nets.forward` (a few matrix products: well under the 2 ms
decision budget, see bench/quality.py), and the raw action goes through the same pure decoder
(:func:`rlscale.core.actions.decode_action`) the training env used, with the same
:class:`~rlscale.core.ObservationBuilder` — so a checkpoint means the same thing offline and live.

Names: ``learned`` is the policy shipped in the package (``rlscale/data/policies/default``);
``learned:PATH`` loads the checkpoint directory at PATH. ``memory_floor=U`` overrides the
checkpoint's peak-memory floor (``learned:memory_floor=0`` switches it off): the floor holds the
pods of the 2-hour decayed load peak, which pays where load comes back within the hour and only
costs where bursts are hours apart (docs/learning.md). ``budget=B`` is the SLO error budget
(default: the service's ``slo_budget``) that a checkpoint with budget feedback keeps
(core.slo_budget); ``feedback=on|off`` forces the feedback on (with its default constants) or
off whatever the checkpoint says.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.core.action_reasons import explain_action
from rlscale.core.actions import ActionConfig, decode_action
from rlscale.core.decision import Reason
from rlscale.core.observation import OBSERVATION_FEATURES, ObservationBuilder
from rlscale.core.signals import ScalingSignals
from rlscale.core.slo_budget import BudgetFeedback, FeedbackConfig
from rlscale.core.spec import ServiceSpec
from rlscale.nets.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from rlscale.nets.forecaster import TENSOR_PREFIX, ForecasterError, forecaster_from_tensors
from rlscale.nets.forward import deterministic_action, mlp_forward

#: Package-relative folder of the shipped default policy.
DEFAULT_POLICY_DIR = ("data", "policies", "default")


def default_policy_path() -> Path:
    """Where the shipped default checkpoint lives inside the installed package."""
    root = resources.files("rlscale")
    for part in DEFAULT_POLICY_DIR:
        root = root / part
    return Path(str(root))


class LearnedPolicy:
    """A :class:`~rlscale.policies.base.Policy` backed by a checkpoint (deterministic)."""

    def __init__(
        self,
        spec: ServiceSpec,
        num_envs: int = 1,
        path: str | os.PathLike[str] | None = None,
        memory_floor: float | None = None,
        budget: float | None = None,
        feedback: str | None = None,
    ) -> None:
        """``memory_floor``: None keeps the checkpoint's ``memory_floor_utilization``, 0 turns
        the floor off, a utilisation in (0, 1.5] replaces it (hold_target checkpoints only).
        ``budget``: the SLO budget the feedback keeps (None: ``spec.slo_budget``);
        ``feedback``: None keeps the checkpoint's, "on"/"off" overrides it."""
        if budget is not None:  # ServiceSpec refuses a budget outside (0, 1) by name
            spec = replace(spec, slo_budget=float(budget))
        self.spec = spec
        self.num_envs = int(num_envs)
        self.path = Path(path) if path is not None else default_policy_path()
        self.checkpoint: Checkpoint = load_checkpoint(self.path, expected_features=OBSERVATION_FEATURES)
        meta = self.checkpoint.metadata
        try:
            self.action_config = ActionConfig.from_dict(dict(meta["action"]))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{self.path}/metadata.json: bad 'action' field ({exc})") from exc
        _check_head(self.action_config, meta["network"], self.checkpoint.tensors, self.path)
        if memory_floor is not None:
            self.action_config = _with_memory_floor(self.action_config, memory_floor)
        if feedback is not None:
            self.action_config = _with_feedback(self.action_config, feedback)
        self.feedback = (
            None
            if self.action_config.budget_feedback is None
            else BudgetFeedback(
                self.num_envs, spec.step_s, spec.slo_budget, self.action_config.budget_feedback
            )
        )
        observation = meta.get("observation", {})
        if observation.get("forecast", False):
            raise CheckpointError(
                f"{self.path}/metadata.json: this policy was trained seeing the true future load "
                "(forecast=True); nothing can serve that, train it with a forecaster instead"
            )
        self.forecaster = None
        if observation.get("forecaster") is not None:
            try:
                self.forecaster = forecaster_from_tensors(
                    self.checkpoint.tensors, observation["forecaster"], str(self.path), TENSOR_PREFIX
                )
            except ForecasterError as exc:
                raise CheckpointError(str(exc)) from exc
        self.name = "learned" if path is None else f"learned:{self.path}"
        overrides = [
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in (("memory_floor", memory_floor), ("budget", budget), ("feedback", feedback))
            if value is not None
        ]
        if overrides:  # the spec that rebuilds this policy, for logs and metrics
            where = [] if path is None else [f"path={self.path}"]
            self.name = "learned:" + ",".join([*where, *overrides])
        self._last: _LastAct | None = None
        self._network = meta["network"]
        self._tensors = self.checkpoint.tensors
        self._layers = self.checkpoint.layers
        try:
            self._builder = ObservationBuilder(spec, self.num_envs, self.forecaster)
        except ValueError as exc:  # a forecaster reading more history than the builder keeps
            raise CheckpointError(f"{self.path}/metadata.json: {exc}") from exc

    def observe(self, signals: ScalingSignals) -> np.ndarray:
        """The observation batch for these signals (advances the load history)."""
        return self._builder.build(signals)

    def raw_action(self, observations: np.ndarray) -> np.ndarray:
        """The network's deterministic action for an observation batch (before decoding)."""
        return deterministic_action(mlp_forward(self._tensors, self._layers, observations), self._network)

    def act(self, signals: ScalingSignals) -> np.ndarray:
        if signals.num_envs != self.num_envs:
            raise ValueError(
                f"{self.name}: got signals for {signals.num_envs} services, built for {self.num_envs}"
            )
        obs = self.observe(signals)
        action = self.raw_action(obs)
        fb = self.feedback
        if fb is None:
            self._last = _LastAct(action, signals, obs)
            return decode_action(self.action_config, action, signals, self.spec, observation=obs)
        fb.update(signals.slo_violation_fraction, signals.request_rate_rps, signals.pending_replicas)
        headroom = np.array(fb.headroom, dtype=np.float64)
        network = decode_action(
            self.action_config, action, signals, self.spec, observation=obs, headroom=headroom
        )
        desired = network
        floor = fb.floor_replicas(self.spec.pod_capacity_rps)
        if floor is not None:
            desired = np.clip(np.maximum(network, floor), self.spec.min_replicas, self.spec.max_replicas)
        desired = desired.astype(np.int64)
        self._last = _LastAct(action, signals, obs, headroom, network, desired)
        return desired

    def explain(self, index: int = 0) -> tuple[Reason, ...]:
        """Service ``index``'s reasons for the last :meth:`act`: what the network sized for
        (``core.action_reasons``), then what the SLO-budget feedback did (``SLOBudget*``);
        empty before the first call."""
        last = self._last
        if last is None:
            return ()
        pick = np.array([index])
        action = float(np.asarray(last.action).reshape(last.signals.num_envs, -1)[index, 0])
        headroom = 1.0 if last.headroom is None else float(last.headroom.reshape(-1)[index])
        reasons = explain_action(
            self.action_config,
            action,
            last.signals.select(pick),
            self.spec,
            last.obs[index : index + 1],
            headroom,
        )
        if self.feedback is None or last.network_desired is None or last.desired is None:
            return reasons
        network = int(last.network_desired[index])
        final = int(last.desired[index])
        return reasons + tuple(
            Reason(code, message, network, final)
            if code == "SLOBudgetFloor" and final != network
            else Reason(code, message)
            for code, message in self.feedback.explain(index, self.spec.pod_capacity_rps, network)
        )

    def reset(self, mask: np.ndarray | None = None) -> None:
        self._builder.reset(mask)
        if self.feedback is not None:
            self.feedback.reset(mask)

    def warm(self, rates_rps: np.ndarray) -> int:
        """Replay past request rates into the load history and peak memory (a restart)."""
        return self._builder.warm(rates_rps)

    def describe(self) -> dict[str, Any]:
        """What the controller logs about the policy it serves."""
        meta = self.checkpoint.metadata
        return {
            "name": self.name,
            "path": str(self.path),
            "algorithm": meta["algorithm"],
            "action": self.action_config.to_dict(),
            "slo_budget": self.spec.slo_budget,
            "training_command": meta["training"].get("command"),
            "forecaster": None if self.forecaster is None else self.forecaster.config(),
        }


def _check_head(config: ActionConfig, network: dict, tensors: dict, path: Path) -> None:
    """The network's output must be the action its metadata decodes: an argmax over
    ``num_actions`` for a discrete mode, a Box of 1 for a continuous one. A mismatch ran a
    wrong policy silently (utilization) or crashed mid-run (delta: index out of range)."""
    if "nvec" in network:  # several discrete parts side by side (pools, vertical): decoded by parts
        return
    head = "argmax" if config.discrete else "box"
    width = int(tensors[network["layers"][-1]["weight"]].shape[0])
    if network["head"] != head or width != config.num_actions:
        raise CheckpointError(
            f"{path}/metadata.json: action mode {config.mode!r} needs a {head!r} head with "
            f"{config.num_actions} output(s), but the network has a {network['head']!r} head with "
            f"{width}: the metadata does not describe this network"
        )


@dataclass(frozen=True)
class _LastAct:
    """What :meth:`LearnedPolicy.explain` needs of the last :meth:`LearnedPolicy.act`."""

    action: np.ndarray
    signals: ScalingSignals
    obs: np.ndarray
    headroom: np.ndarray | None = None  # the budget feedback's factor on the target utilisations
    network_desired: np.ndarray | None = None  # the network's count, before the budget floor
    desired: np.ndarray | None = None  # what act returned (with the budget feedback only)


def _with_memory_floor(config: ActionConfig, utilization: float) -> ActionConfig:
    """``config`` with its peak-memory floor replaced (0 = off); ValueError names the problem."""
    if config.mode != "hold_target":
        raise ValueError(f"memory_floor applies to hold_target policies; this one decodes {config.mode!r}")
    if not (math.isfinite(utilization) and utilization >= 0):
        raise ValueError(f"memory_floor must be 0 (off) or a utilisation in (0, 1.5], got {utilization}")
    return replace(config, memory_floor_utilization=utilization if utilization > 0 else None)


def _with_feedback(config: ActionConfig, feedback: str) -> ActionConfig:
    """``config`` with the budget feedback forced on (default constants unless the checkpoint
    has its own) or off."""
    if feedback not in ("on", "off"):
        raise ValueError(f"feedback must be on or off, got {feedback!r}")
    if config.mode != "hold_target":
        raise ValueError(
            f"the budget feedback applies to hold_target policies; this one decodes {config.mode!r}"
        )
    if feedback == "off":
        return replace(config, budget_feedback=None)
    return replace(config, budget_feedback=config.budget_feedback or FeedbackConfig())


def make_learned_policy(
    spec: ServiceSpec,
    num_envs: int = 1,
    path: str | None = None,
    memory_floor: float | None = None,
    budget: float | None = None,
    feedback: str | None = None,
    **_: Any,
) -> LearnedPolicy:
    """Registry factory: ``learned`` (shipped default) or ``learned:PATH``, optionally
    ``memory_floor=U`` (0 = off), ``budget=B`` and ``feedback=on|off``."""
    return LearnedPolicy(spec, num_envs, path, memory_floor, budget, feedback)


LEARNED_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "checkpoint directory (default: shipped policy)"},
        "memory_floor": {
            "type": "number",
            "description": "peak-memory floor utilisation, replacing the checkpoint's (0 = off)",
        },
        "budget": {
            "type": "number",
            "description": "SLO error budget kept, fraction (default: the service's)",
        },
        "feedback": {"type": "string", "enum": ["on", "off"], "description": "budget feedback on/off"},
    },
    "additionalProperties": False,
}


def _register() -> None:
    try:
        from rlscale.policies.registry import register_policy
    except ImportError:  # registry not available (yet): LearnedPolicy is still usable directly
        return
    try:
        register_policy("learned", make_learned_policy, LEARNED_PARAMS_SCHEMA)
    except (ValueError, KeyError):  # already registered
        pass


_register()
