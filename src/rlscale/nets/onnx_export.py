"""ONNX export of a checkpoint's policy, for torch-free inference (onnxruntime) outside rlscale.
Imports torch: training/CLI side only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from rlscale.nets.checkpoint import load_checkpoint
from rlscale.nets.modules import DenseStack

ONNX_OPSET = 17


def export_onnx(checkpoint_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``out`` (atomically): input ``observation`` float32 ``(batch, D)``, output
    ``action`` = the deterministic raw action (int64 index, or float32 ``(batch, k)``).
    Decode it with rlscale.core.actions.decode_action and the checkpoint's ``action`` metadata."""
    ck = load_checkpoint(checkpoint_dir, expected_features=None)
    net = DenseStack(ck.tensors, ck.metadata["network"]).eval()
    width = len(ck.metadata["observation_features"])
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        torch.onnx.export(
            net,
            (torch.zeros(1, width),),
            tmp,
            input_names=["observation"],
            output_names=["action"],
            dynamic_axes={"observation": {0: "batch"}, "action": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
