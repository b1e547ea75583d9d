"""LearnedPolicy: numpy inference from a checkpoint, decoded like the env decodes; the
shipped default loads; bad checkpoints are refused; the live import stays torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlscale.core import OBSERVATION_FEATURES, ObservationBuilder, ScalingSignals, ServiceSpec
from rlscale.core.actions import ActionConfig, decode_action
from rlscale.nets import CheckpointError, save_checkpoint
from rlscale.policies.learned import LearnedPolicy, default_policy_path

SPEC = ServiceSpec(name="t", pod_capacity_rps=100.0, slo_latency_s=0.2, min_replicas=1, max_replicas=20)


def _checkpoint(tmp_path: Path, mode: str = "utilization") -> Path:
    rng = np.random.default_rng(0)
    d = len(OBSERVATION_FEATURES)
    out = 1 if mode in ("utilization", "target") else ActionConfig(mode=mode).num_actions
    tensors = {
        "a.weight": rng.normal(size=(16, d)).astype(np.float32),
        "a.bias": rng.normal(size=16).astype(np.float32),
        "b.weight": rng.normal(size=(out, 16)).astype(np.float32),
        "b.bias": rng.normal(size=out).astype(np.float32),
    }
    network = {
        "layers": [
            {"weight": "a.weight", "bias": "a.bias", "activation": "tanh"},
            {"weight": "b.weight", "bias": "b.bias", "activation": "none"},
        ],
        "head": "box" if out == 1 else "argmax",
        "low": [-1.0],
        "high": [1.0],
    }
    meta = {
        "format_version": 1,
        "algorithm": "ppo",
        "observation_features": list(OBSERVATION_FEATURES),
        "observation": {"forecast": False},
        "action": ActionConfig(mode=mode).to_dict(),
        "network": network,
        "service": {"preset": "web"},
        "training": {"command": "test", "seed": 0},
        "versions": {},
    }
    return save_checkpoint(tmp_path / mode, tensors, meta)


def _signals(n: int, rng: np.random.Generator, t: float) -> ScalingSignals:
    desired = rng.integers(1, 20, n).astype(float)
    return ScalingSignals(
        time_s=np.full(n, t),
        desired_replicas=desired,
        ready_replicas=desired,
        pending_replicas=np.zeros(n),
        request_rate_rps=rng.uniform(0, 1500, n),
        cpu_utilization=rng.uniform(0, 1.2, n),
        latency_p95_s=rng.uniform(0.01, 0.5, n),
        backlog_requests=np.zeros(n),
        dropped_rps=np.zeros(n),
    )


@pytest.mark.parametrize("mode", ["utilization", "delta", "hold_target"])
def test_acts_like_network_plus_decoder(tmp_path: Path, mode: str) -> None:
    path = _checkpoint(tmp_path, mode)
    policy = LearnedPolicy(SPEC, 8, path)
    builder = ObservationBuilder(SPEC, 8)
    rng = np.random.default_rng(1)
    ck = policy.checkpoint
    seen = set()
    for t in range(6):
        sig = _signals(8, rng, 15.0 * t)
        got = policy.act(sig)
        obs = builder.build(sig)
        h = np.tanh(obs @ ck.tensors["a.weight"].T + ck.tensors["a.bias"])
        raw = h @ ck.tensors["b.weight"].T + ck.tensors["b.bias"]
        action = np.clip(raw, -1, 1) if mode == "utilization" else raw.argmax(axis=1)
        np.testing.assert_array_equal(
            got, decode_action(ActionConfig(mode=mode), action, sig, SPEC, observation=obs)
        )
        assert got.dtype == np.int64 and got.shape == (8,)
        assert np.all((got >= 1) & (got <= 20))
        seen.update(got.tolist())
    assert len(seen) > 2


def test_mismatched_or_corrupt_checkpoint_refused(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        LearnedPolicy(SPEC, 1, path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        LearnedPolicy(SPEC, 1, tmp_path / "nope")
    onnx_file = tmp_path / "policy.onnx"  # what `rlscale export` writes: the network alone
    onnx_file.write_bytes(b"\x08\x07")
    with pytest.raises(CheckpointError, match="ONNX export holds only the network"):
        LearnedPolicy(SPEC, 1, onnx_file)


def test_shipped_default_policy_loads_and_acts() -> None:
    if not (default_policy_path() / "metadata.json").exists():
        pytest.skip("no shipped default policy in this checkout")
    policy = LearnedPolicy(SPEC, 4)
    assert policy.name == "learned"
    meta = policy.checkpoint.metadata
    assert meta["training"]["command"].startswith("rlscale train")
    assert "seed" in meta["training"]
    out = policy.act(_signals(4, np.random.default_rng(0), 0.0))
    assert out.shape == (4,) and np.all((out >= 1) & (out <= 20))


def test_live_import_is_torch_free() -> None:
    code = "import sys, rlscale.policies.learned; print(sorted(m for m in ('torch', 'gymnasium', 'rlscale.sim', 'rlscale.envs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_memory_floor_override_switches_the_floor() -> None:
    """``learned:memory_floor=0`` releases the pods the 2-hour peak memory holds after a burst;
    bad values are refused by name."""
    if not (default_policy_path() / "metadata.json").exists():
        pytest.skip("no shipped default policy in this checkout")
    from rlscale.policies.registry import PolicySpecError, build_policy

    spec = ServiceSpec(name="t", pod_capacity_rps=10.0, slo_latency_s=0.5, max_replicas=50)
    kept, off = (build_policy(s, spec, 1) for s in ("learned", "learned:memory_floor=0"))
    assert kept.action_config.memory_floor_utilization == 1.0
    assert off.action_config.memory_floor_utilization is None
    assert off.describe()["action"]["memory_floor_utilization"] is None
    assert off.name == "learned:memory_floor=0" and kept.name == "learned"
    desired = {"kept": 1, "off": 1}
    for step in range(80):  # 5 min at 300 req/s, then 15 min at 20 req/s
        rate = 300.0 if step < 20 else 20.0
        for name, policy in (("kept", kept), ("off", off)):
            sig = ScalingSignals.single(
                time_s=15.0 * step,
                desired_replicas=desired[name],
                ready_replicas=desired[name],
                pending_replicas=0,
                request_rate_rps=rate,
                cpu_utilization=min(rate / (10.0 * desired[name]), 1.0),
                latency_p95_s=0.05,
                backlog_requests=0.0,
                dropped_rps=0.0,
            )
            desired[name] = int(policy.act(sig)[0])
    # 15 min after the burst the floor still holds ~30 pods (300 req/s x e^-1/8); without it a
    # few pods serve 20 req/s
    assert desired["kept"] >= 25 and desired["off"] <= 6
    for bad, match in (
        ("-1", "memory_floor must be 0"),
        ("nan", "memory_floor. must be finite"),
        ("2", r"\(0, 1.5\]"),
    ):
        with pytest.raises(PolicySpecError, match=match):
            build_policy(f"learned:memory_floor={bad}", spec, 1)


def test_memory_floor_needs_a_hold_target_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_floor applies to hold_target policies"):
        LearnedPolicy(SPEC, 1, _checkpoint(tmp_path, "delta"), memory_floor=1.0)
    path = _checkpoint(tmp_path, "hold_target")
    policy = LearnedPolicy(SPEC, 1, path, memory_floor=0.8)
    assert policy.action_config.memory_floor_utilization == 0.8
    # the name is the spec that rebuilds it
    from rlscale.policies.registry import build_policy

    assert policy.name == f"learned:path={path},memory_floor=0.8"
    rebuilt = build_policy(policy.name, SPEC, 1)
    assert rebuilt.name == policy.name and rebuilt.action_config == policy.action_config
