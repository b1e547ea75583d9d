"""ONNX (onnxruntime) and torch give the same actions as the numpy path on random observations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _ckpt_helpers import example as _example

from rlscale.nets import load_checkpoint, mlp_forward, save_checkpoint
from rlscale.nets.forward import deterministic_action
from rlscale.nets.modules import DenseStack
from rlscale.nets.onnx_export import export_onnx


@pytest.mark.parametrize("head", ["argmax", "box"])
def test_onnx_torch_numpy_agree(tmp_path: Path, head: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    tensors, meta = _example()
    if head == "box":
        tensors["l1.weight"] = tensors["l1.weight"][:1]
        tensors["l1.bias"] = tensors["l1.bias"][:1]
        meta["network"].update(head="box", low=[-1.0], high=[1.0])
    ck_dir = save_checkpoint(tmp_path / "ck", tensors, meta)
    [onnx_path] = export_onnx(ck_dir, tmp_path / "model.onnx")
    obs = np.random.default_rng(7).normal(size=(256, len(meta["observation_features"]))).astype(np.float32)
    ck = load_checkpoint(ck_dir)
    with torch.no_grad():
        a_torch = DenseStack(ck.tensors, ck.metadata["network"])(torch.as_tensor(obs)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    a_onnx = sess.run(["action"], {"observation": obs})[0]
    a_np = deterministic_action(mlp_forward(ck.tensors, ck.layers, obs), ck.metadata["network"])
    if head == "argmax":
        np.testing.assert_array_equal(a_onnx, a_torch)
        np.testing.assert_array_equal(a_np, a_torch)
        assert len(np.unique(a_torch)) > 1  # a constant action would make the check vacuous
    else:
        np.testing.assert_allclose(a_onnx, a_torch, atol=1e-5)
        np.testing.assert_allclose(a_np, a_torch, atol=1e-5)
