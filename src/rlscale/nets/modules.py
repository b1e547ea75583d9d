"""Torch modules shared by training, export and the forecaster. Imports torch: never import
this from the live path (rlscale.policies / controller); use rlscale.nets.forward there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn


class DenseStack(nn.Module):
    """The torch twin of :func:`rlscale.nets.forward.mlp_forward` + the deterministic head,
    built from checkpoint tensors; used for ONNX export and to cross-check the numpy path."""

    def __init__(self, tensors: Mapping[str, np.ndarray], network: Mapping[str, Any]) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        self.activations: list[str] = []
        for layer in network["layers"]:
            w = torch.as_tensor(np.asarray(tensors[layer["weight"]], dtype=np.float32))
            b = torch.as_tensor(np.asarray(tensors[layer["bias"]], dtype=np.float32))
            lin = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            self.linears.append(lin)
            self.activations.append(str(layer["activation"]))
        self.head = str(network["head"])
        #: MultiDiscrete heads: logits of several discrete actions side by side
        self.nvec = [int(k) for k in network.get("nvec", [])]
        self.rescale = bool(network.get("rescale", False))
        low = np.asarray(network.get("low", -np.inf), dtype=np.float32)
        high = np.asarray(network.get("high", np.inf), dtype=np.float32)
        self.register_buffer("low", torch.as_tensor(np.atleast_1d(low)))
        self.register_buffer("high", torch.as_tensor(np.atleast_1d(high)))

    def raw(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        for lin, act in zip(self.linears, self.activations, strict=True):
            x = lin(x)
            if act == "tanh":
                x = torch.tanh(x)
            elif act == "relu":
                x = torch.relu(x)
        return x

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action: argmax index (int64) or the clipped continuous action."""
        x = self.raw(obs)
        if self.head == "argmax":
            if self.nvec:
                parts = torch.split(x, self.nvec, dim=1)
                return torch.stack([torch.argmax(part, dim=1) for part in parts], dim=1)
            return torch.argmax(x, dim=1)
        if self.rescale:
            x = self.low + (x + 1.0) * 0.5 * (self.high - self.low)
        return torch.maximum(torch.minimum(x, self.high), self.low)


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class DuelingHead(nn.Module):
    """Dueling Q head (Wang et al. 2016): Q = V + A − mean(A), so the state value is learnt
    from every action's update (seed 000 uses a plain MLP; dueling is the issue's ask)."""

    def __init__(self, in_dim: int, n_actions: int, hidden: Sequence[int] = (128, 64)) -> None:
        super().__init__()
        self.trunk = mlp([in_dim, *hidden], nn.ReLU)
        self.trunk.append(nn.ReLU())
        self.value = nn.Linear(hidden[-1], 1)
        self.advantage = nn.Linear(hidden[-1], n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        a = self.advantage(h)
        return self.value(h) + a - a.mean(dim=1, keepdim=True)


class GRUEncoder(nn.Module):
    """AWARE-style workload encoder (Qiu et al., ATC '23 §3.3): a GRU over the recent
    observation trajectory → an embedding (FC + ReLU) of what kind of load this is.
    Input ``(batch, time, features)``; output ``(batch, embed_dim)``."""

    def __init__(self, in_dim: int, hidden: int = 64, embed_dim: int = 32, num_layers: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, num_layers=num_layers, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(hidden, embed_dim), nn.ReLU())

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(seq)
        return self.fc(out.mean(dim=1))


class LSTMForecasterNet(nn.Module):
    """Seed 000's load predictor (app/dqn/predictor_network.py): 2-layer LSTM, hidden 64,
    dropout 0.1, residual output (``last + fc(h)``). Inputs are normalised log-rates."""

    def __init__(self, hidden: int = 64, num_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """``seq``: ``(batch, time)`` → predicted value ``(batch,)`` = last + residual."""
        out, _ = self.lstm(seq.unsqueeze(-1))
        return seq[:, -1] + self.fc(out[:, -1]).squeeze(-1)
