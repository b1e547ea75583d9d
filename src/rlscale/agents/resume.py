"""``rlscale train --resume``: the full SB3 state of a run (policy, optimizer, replay buffer,
reward normaliser, counters) saved and restored in safe formats only (safetensors,
``weights_only`` torch, npz without pickles, JSON), each file named when it cannot be restored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from rlscale.core.atomic_file import write_dir_atomic


def save_resume_state(model: Any, path: Path, extra: dict[str, Any]) -> None:
    """Everything --resume needs, in safe formats (safetensors, weights_only torch, npz, JSON)."""
    from safetensors.torch import save_file

    norm = _reward_normalizer(model)
    if norm is not None:  # running return statistics, so --resume scales rewards the same
        extra = {
            **extra,
            "reward_norm": {
                "mean": float(np.asarray(norm.ret_rms.mean)),
                "var": float(np.asarray(norm.ret_rms.var)),
                "count": float(norm.ret_rms.count),
            },
        }

    def write(tmp: Path) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in model.policy.state_dict().items()}
        save_file(state, str(tmp / "policy.safetensors"))
        th.save(model.policy.optimizer.state_dict(), tmp / "optimizer.pt")
        buf = getattr(model, "replay_buffer", None)
        if buf is not None:
            arrays = {
                k: getattr(buf, k)
                for k in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
            }
            if hasattr(buf, "priorities"):
                arrays["priorities"] = buf.priorities
            np.savez(tmp / "replay.npz", pos=np.array(buf.pos), full=np.array(buf.full), **arrays)
        (tmp / "state.json").write_text(
            json.dumps({"num_timesteps": int(model.num_timesteps), **extra}, indent=2)
        )

    write_dir_atomic(path, write)


def load_resume_state(model: Any, path: Path) -> dict[str, Any]:
    """Restore ``model`` from ``path``; a missing, truncated or mismatched file is a ValueError
    naming it (not a safetensors or optimizer traceback)."""
    from safetensors.torch import load_file

    def load_optimizer(file: Path) -> None:
        saved = th.load(file, weights_only=True)
        own = model.policy.optimizer.state_dict()
        # another optimizer (A2C's RMSprop vs PPO's Adam) loads silently and fails at the first
        # step (KeyError 'square_avg'): its settings have other names
        if [sorted(g) for g in saved["param_groups"]] != [sorted(g) for g in own["param_groups"]]:
            raise ValueError("the saved optimizer is not this algorithm's")
        model.policy.optimizer.load_state_dict(saved)

    for name, load in (
        ("policy.safetensors", lambda f: model.policy.load_state_dict(load_file(str(f)))),
        ("optimizer.pt", load_optimizer),
    ):
        try:
            load(path / name)
        except Exception as exc:
            raise ValueError(
                f"--resume: {path / name} cannot be restored ({type(exc).__name__}: {exc}); "
                "it is corrupt or from another --algo/--action-mode"
            ) from exc
    buf = getattr(model, "replay_buffer", None)
    if buf is not None and (path / "replay.npz").exists():
        with np.load(path / "replay.npz", allow_pickle=False) as data:
            for k in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
                getattr(buf, k)[...] = data[k]
            if "priorities" in data and hasattr(buf, "priorities"):
                buf.priorities[...] = data["priorities"]
            buf.pos, buf.full = int(data["pos"]), bool(data["full"])
    state = json.loads((path / "state.json").read_text())
    model.num_timesteps = int(state["num_timesteps"])
    norm = _reward_normalizer(model)
    if norm is not None and "reward_norm" in state:
        rn = state["reward_norm"]
        norm.ret_rms.mean = np.float64(rn["mean"])
        norm.ret_rms.var = np.float64(rn["var"])
        norm.ret_rms.count = float(rn["count"])
    return state


def _reward_normalizer(model: Any) -> Any:
    """The model's VecNormalize wrapper (``--normalize-reward``), or None."""
    from stable_baselines3.common.vec_env import VecNormalize

    env = model.get_env()
    return env if isinstance(env, VecNormalize) else None
