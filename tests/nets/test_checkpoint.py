"""Checkpoint round-trip, and refusal (with a clear error) of corrupt or mismatched ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _ckpt_helpers import example as _example

from rlscale.core import OBSERVATION_FEATURES
from rlscale.nets import CheckpointError, load_checkpoint, mlp_forward, save_checkpoint
from rlscale.nets.forward import deterministic_action


def test_round_trip(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    ck = load_checkpoint(out, expected_action_mode="utilization")
    assert ck.metadata == meta
    for k, v in tensors.items():
        np.testing.assert_array_equal(ck.tensors[k], v)
    obs = np.random.default_rng(1).normal(size=(7, len(OBSERVATION_FEATURES))).astype(np.float32)
    raw = mlp_forward(ck.tensors, ck.layers, obs)
    expected = (
        np.tanh(obs @ tensors["l0.weight"].T + tensors["l0.bias"]) @ tensors["l1.weight"].T
        + tensors["l1.bias"]
    )
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(deterministic_action(raw, meta["network"]), expected.argmax(axis=1))


def test_overwrite_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    tensors, meta = _example()
    save_checkpoint(tmp_path / "ck", tensors, meta)
    tensors2, meta2 = _example(seed=3)
    save_checkpoint(tmp_path / "ck", tensors2, meta2)
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "ck").tensors["l0.bias"], tensors2["l0.bias"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_truncated_weights_refused(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*corrupt"):
        load_checkpoint(out)


def test_bad_header_refused(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    (out / "model.safetensors").write_bytes(b"\xff" * 8 + b"{not json")
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        load_checkpoint(out)


def test_bad_json_refused(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    (out / "metadata.json").write_text('{"format_version": 1,', encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"metadata\.json: not valid JSON"):
        load_checkpoint(out)


def test_missing_tensor_refused(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    del tensors["l1.bias"]
    save_file(tensors, str(out / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"'l1\.bias'.*missing"):
        load_checkpoint(out)


def test_missing_field_refused(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    bad = dict(meta)
    del bad["observation_features"]
    (out / "metadata.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"missing field.*observation_features"):
        load_checkpoint(out)


def test_mismatched_layout_refused(tmp_path: Path) -> None:
    features = [*OBSERVATION_FEATURES[:-1], "some_other_feature"]
    tensors, meta = _example()
    meta["observation_features"] = features
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    with pytest.raises(CheckpointError, match=r"observation layout mismatch.*some_other_feature"):
        load_checkpoint(out)


def test_mismatched_action_mode_refused(tmp_path: Path) -> None:
    tensors, meta = _example()
    out = save_checkpoint(tmp_path / "ck", tensors, meta)
    with pytest.raises(CheckpointError, match=r"action mode mismatch.*'utilization'.*'delta'"):
        load_checkpoint(out, expected_action_mode="delta")


def test_shape_mismatch_refused_on_save(tmp_path: Path) -> None:
    tensors, meta = _example(d=len(OBSERVATION_FEATURES) + 2)
    with pytest.raises(CheckpointError, match=r"layers\[0\]"):
        save_checkpoint(tmp_path / "ck", tensors, meta)
    assert not (tmp_path / "ck").exists()


def test_nets_package_is_torch_free() -> None:
    import subprocess
    import sys

    code = "import sys, rlscale.nets, rlscale.nets.checkpoint; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
