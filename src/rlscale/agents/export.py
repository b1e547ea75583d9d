"""SB3 policy → rlscale checkpoint (safetensors + JSON), never SB3's zip/pickle.

Only the part that acts is exported: the actor MLP (PPO/A2C ``mlp_extractor.policy_net`` +
``action_net``; SAC ``latent_pi`` + ``mu``; TD3/DDPG ``actor.mu``; DQN ``q_net``, for a
dueling head the trunk + advantage stream — argmax Q = argmax A, so V is not needed to act).
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import torch
from torch import nn

from rlscale.core.actions import ActionConfig
from rlscale.core.observation import OBSERVATION_FEATURES
from rlscale.nets.checkpoint import FORMAT_VERSION


class NotExportable(ValueError):
    """The model has parts the dense numpy network cannot express (an RNN, a custom extractor)."""


def _act_name(module: nn.Module) -> str | None:
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Identity | nn.Flatten):
        return None
    raise NotExportable(f"cannot export activation {type(module).__name__}")


def _dense(seq: nn.Module, prefix: str, tensors: dict[str, np.ndarray], layers: list[dict[str, Any]]) -> None:
    """Append every Linear of ``seq`` (with the activation that follows it) to ``layers``."""
    modules = list(seq) if isinstance(seq, nn.Sequential) else [seq]
    for i, mod in enumerate(modules):
        if isinstance(mod, nn.Linear):
            name = f"{prefix}.{i}" if isinstance(seq, nn.Sequential) else prefix
            tensors[f"{name}.weight"] = mod.weight.detach().cpu().numpy().astype(np.float32)
            tensors[f"{name}.bias"] = mod.bias.detach().cpu().numpy().astype(np.float32)
            layers.append({"weight": f"{name}.weight", "bias": f"{name}.bias", "activation": "none"})
        elif isinstance(mod, nn.Sequential):
            _dense(mod, f"{prefix}.{i}", tensors, layers)
        else:
            act = _act_name(mod)
            if act is not None:
                if not layers or layers[-1]["activation"] != "none":
                    raise NotExportable(f"activation without a preceding Linear in {prefix}")
                layers[-1]["activation"] = act


def _check_flatten(extractor: nn.Module | None) -> None:
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if extractor is not None and not isinstance(extractor, FlattenExtractor):
        raise NotExportable(
            f"features extractor {type(extractor).__name__} is not a plain MLP input; "
            "keep the SB3 state dict in the run dir, or serve it through ONNX"
        )


def _actor_critic_head(space: Any) -> dict[str, Any]:
    """The ``network`` head entries for an actor-critic ``action_net`` over ``space``.

    MultiDiscrete: SB3's ``action_net`` emits every dimension's logits concatenated in
    ``nvec`` order, so the greedy action is an argmax per ``nvec`` segment (what
    ``policies.pools.LearnedPoolsPolicy`` does with ``metadata.action.nvec``)."""
    if hasattr(space, "nvec"):
        return {"head": "argmax", "nvec": [int(v) for v in space.nvec]}
    if hasattr(space, "n"):
        return {"head": "argmax"}
    return {"head": "box", "low": space.low.tolist(), "high": space.high.tolist()}


def policy_network(model: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The actor of an SB3 model as checkpoint tensors + ``network`` metadata."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy

    policy = model.policy
    tensors: dict[str, np.ndarray] = {}
    layers: list[dict[str, Any]] = []
    network: dict[str, Any] = {}
    if type(policy).__name__.startswith("Recurrent"):
        raise NotExportable("recurrent policies (RecurrentPPO) carry an LSTM state; export them through ONNX")
    if isinstance(policy, ActorCriticPolicy):
        _check_flatten(policy.pi_features_extractor)
        _dense(policy.mlp_extractor.policy_net, "pi", tensors, layers)
        _dense(policy.action_net, "action", tensors, layers)
        network.update(_actor_critic_head(policy.action_space))
    elif isinstance(policy, DQNPolicy):
        _check_flatten(policy.q_net.features_extractor)
        q = policy.q_net.q_net
        if hasattr(q, "advantage"):
            _dense(q.trunk, "q.trunk", tensors, layers)
            _dense(q.advantage, "q.advantage", tensors, layers)
        else:
            _dense(q, "q", tensors, layers)
        network["head"] = "argmax"
    elif hasattr(policy, "actor"):
        actor = policy.actor
        _check_flatten(getattr(actor, "features_extractor", None))
        if hasattr(actor, "latent_pi"):  # SAC: tanh(mu(latent))
            _dense(actor.latent_pi, "latent_pi", tensors, layers)
            _dense(actor.mu, "mu", tensors, layers)
            layers[-1]["activation"] = "tanh"
        else:  # TD3 / DDPG: mu ends in Tanh
            _dense(actor.mu, "mu", tensors, layers)
        low, high = policy.action_space.low, policy.action_space.high
        network.update(head="box", rescale=True, low=low.tolist(), high=high.tolist())
    else:
        raise NotExportable(f"do not know how to export {type(policy).__name__}")
    if layers and layers[-1]["activation"] == "relu":
        raise NotExportable("the output layer ends in ReLU; unexpected for an action head")
    network["layers"] = layers
    return tensors, network


def versions() -> dict[str, str]:
    import stable_baselines3

    import rlscale

    out = {
        "rlscale": getattr(rlscale, "__version__", "0.1.0"),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import sb3_contrib

        out["sb3_contrib"] = sb3_contrib.__version__
    except ImportError:
        pass
    return out


def checkpoint_metadata(
    *,
    algorithm: str,
    action: ActionConfig,
    network: dict[str, Any],
    service: dict[str, Any],
    training: dict[str, Any],
    forecast: bool = False,
    forecaster: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``forecaster``: the config of an LSTM forecaster whose tensors are stored in the
    checkpoint under :data:`rlscale.nets.forecaster.TENSOR_PREFIX` (``forecast_trend`` then
    comes from it, in the env and live)."""
    observation: dict[str, Any] = {"builder": "rlscale.core.ObservationBuilder", "forecast": bool(forecast)}
    if forecaster is not None:
        observation["forecaster"] = dict(forecaster)
    return {
        "format_version": FORMAT_VERSION,
        "algorithm": algorithm,
        "observation_features": list(OBSERVATION_FEATURES),
        "observation": observation,
        "action": action.to_dict(),
        "network": network,
        "service": service,
        "training": training,
        "versions": versions(),
    }
