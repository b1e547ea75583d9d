"""ONNX export of a checkpoint's policy, for torch-free inference (onnxruntime) outside rlscale.
Imports torch: training/CLI side only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from rlscale.nets.checkpoint import CheckpointError, load_checkpoint
from rlscale.nets.forecaster import (
    TENSOR_PREFIX,
    TREND_LAG,
    ForecasterError,
    LoadForecaster,
    forecaster_from_tensors,
)
from rlscale.nets.modules import DenseStack, LSTMForecasterNet

ONNX_OPSET = 17


def export_onnx(checkpoint_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[Path]:
    """Write ``out`` (atomically): input ``observation`` float32 ``(batch, D)``, output
    ``action`` = the deterministic raw action (int64 index, or float32 ``(batch, k)``).
    Decode it with rlscale.core.actions.decode_action and the checkpoint's ``action`` metadata.

    A checkpoint with a load forecaster also gets ``<out stem>.forecaster.onnx``: input
    ``history`` float32 ``(batch, history_steps)`` observed rates (oldest first), output
    ``forecast`` req/s — the ``forecast_trend`` feature is ``log(forecast + ε) − log(rate + ε)``
    with ε = 1 % of a pod's capacity (rlscale.core.ObservationBuilder). Returns the paths."""
    ck = load_checkpoint(checkpoint_dir, expected_features=None)
    fc_config = ck.metadata.get("observation", {}).get("forecaster")
    fc = None
    if fc_config is not None:  # validated before anything is written
        try:
            fc = forecaster_from_tensors(ck.tensors, fc_config, str(ck.path), TENSOR_PREFIX)
        except ForecasterError as exc:
            raise CheckpointError(str(exc)) from exc
    net = DenseStack(ck.tensors, ck.metadata["network"]).eval()
    width = len(ck.metadata["observation_features"])
    target = Path(out)
    fc_target = target.with_name(f"{target.stem}.forecaster.onnx")
    written = [_export(net, torch.zeros(1, width), target, "observation", "action")]
    if fc is None:
        fc_target.unlink(missing_ok=True)  # never leave an older policy's forecaster beside this one
    else:
        graph = ForecasterGraph(fc).eval()
        written.append(_export(graph, torch.ones(1, fc.history_steps), fc_target, "history", "forecast"))
    return written


class ForecasterGraph(torch.nn.Module):
    """:class:`LoadForecaster` as one torch graph (normalise, LSTM, denormalise, trend blend),
    so the exported file maps raw rate histories to the blended forecast."""

    def __init__(self, fc: LoadForecaster) -> None:
        super().__init__()
        hidden = fc.tensors["lstm.weight_hh_l0"].shape[1]
        self.net = LSTMForecasterNet(hidden, fc.num_layers)
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in fc.tensors.items()})
        self.horizon_steps = fc.horizon_steps
        self.model_weight = fc.model_weight

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        eps = 1e-3 + 1e-3 * hist.abs().mean(dim=-1, keepdim=True)  # nets.forecaster.rate_eps
        scale = hist.mean(dim=-1, keepdim=True) + eps
        model = torch.clamp(
            torch.exp(self.net(torch.log((hist + eps) / scale))) * scale[:, 0] - eps[:, 0], min=0.0
        )
        trend = (hist[:, -1] - hist[:, -1 - TREND_LAG]) / TREND_LAG
        trend_term = hist[:, -1] + trend * (self.horizon_steps + 1) / 2
        w = self.model_weight
        return torch.clamp(w * model + (1 - w) * trend_term, min=0.0)


def _export(module: torch.nn.Module, example: torch.Tensor, target: Path, inp: str, outp: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        torch.onnx.export(
            module,
            (example,),
            tmp,
            input_names=[inp],
            output_names=[outp],
            dynamic_axes={inp: {0: "batch"}, outp: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
