"""The one checkpoint format of rlscale: ``model.safetensors`` (weights) + ``metadata.json``.

Torch-free on purpose (safetensors.numpy + JSON): the live controller loads checkpoints and
must never import torch. Nothing here unpickles anything, so a checkpoint from an untrusted
source can at worst be refused, never execute code.

The metadata says everything needed to use the weights without the code that trained them:
the algorithm, the observation layout (``rlscale.core.OBSERVATION_FEATURES``), the action
mode and its parameters, the network (a list of dense layers naming their tensors), the
service preset, the training data and windows, the exact command, seed, versions and time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.core.atomic_file import write_dir_atomic
from rlscale.core.observation import OBSERVATION_FEATURES

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
#: Bumped whenever the metadata schema changes incompatibly.
FORMAT_VERSION = 1
#: Activations the numpy forward (rlscale.nets.forward) implements.
ACTIVATIONS = ("tanh", "relu", "none")
#: Action heads: ``argmax`` (discrete logits or Q-values), ``box`` (continuous mean, clipped).
HEADS = ("argmax", "box")

REQUIRED_METADATA: tuple[str, ...] = (
    "format_version",
    "algorithm",
    "observation_features",
    "action",
    "network",
    "service",
    "training",
    "versions",
)


class CheckpointError(ValueError):
    """A checkpoint is corrupt, incomplete or does not match what the caller expects.
    The message names the file and the problem."""


@dataclass(frozen=True)
class Checkpoint:
    """Weights (name → float32 array) and the JSON metadata of one trained policy."""

    path: Path
    tensors: dict[str, np.ndarray]
    metadata: dict[str, Any]

    @property
    def action_mode(self) -> str:
        return str(self.metadata["action"]["mode"])

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.metadata["network"]["layers"])


def _check_network(network: Any, where: str) -> None:
    if not isinstance(network, Mapping):
        raise CheckpointError(f"{where}: field 'network' must be an object")
    layers = network.get("layers")
    if not isinstance(layers, list) or not layers:
        raise CheckpointError(f"{where}: field 'network.layers' must be a non-empty list")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Mapping) or not {"weight", "bias", "activation"} <= set(layer):
            raise CheckpointError(f"{where}: network.layers[{i}] needs 'weight', 'bias' and 'activation'")
        if layer["activation"] not in ACTIVATIONS:
            raise CheckpointError(
                f"{where}: network.layers[{i}].activation {layer['activation']!r} is not one of {ACTIVATIONS}"
            )
    head = network.get("head")
    if head not in HEADS:
        raise CheckpointError(f"{where}: field 'network.head' must be one of {HEADS}, got {head!r}")


def validate_metadata(metadata: Any, where: str = METADATA_FILE) -> dict[str, Any]:
    """Check the schema of a metadata object; return it as a dict or raise CheckpointError."""
    if not isinstance(metadata, Mapping):
        raise CheckpointError(f"{where}: top level must be a JSON object")
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise CheckpointError(f"{where}: missing field(s) {missing}")
    if metadata["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{where}: format_version {metadata['format_version']!r} is not supported (expected {FORMAT_VERSION})"
        )
    features = metadata["observation_features"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise CheckpointError(f"{where}: field 'observation_features' must be a list of names")
    action = metadata["action"]
    if not isinstance(action, Mapping) or not isinstance(action.get("mode"), str):
        raise CheckpointError(f"{where}: field 'action.mode' must be a string")
    _check_network(metadata["network"], where)
    return dict(metadata)


def _check_tensors(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any], where: str) -> None:
    """Every tensor the network names exists, and consecutive layer shapes chain up."""
    width = len(metadata["observation_features"])
    for i, layer in enumerate(metadata["network"]["layers"]):
        for key in ("weight", "bias"):
            if layer[key] not in tensors:
                raise CheckpointError(
                    f"{where}: tensor {layer[key]!r} (network.layers[{i}].{key}) is missing"
                )
        w, b = tensors[layer["weight"]], tensors[layer["bias"]]
        if w.ndim != 2 or b.ndim != 1 or w.shape[0] != b.shape[0] or w.shape[1] != width:
            raise CheckpointError(
                f"{where}: network.layers[{i}] has weight {tuple(w.shape)} and bias {tuple(b.shape)}, "
                f"expected ({b.shape[0] if b.ndim == 1 else '?'}, {width}) after an input of width {width}"
            )
        width = int(w.shape[0])


def save_checkpoint(
    path: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    """Write ``path/`` atomically: both files go to a temp dir next to it, then one rename.

    An existing checkpoint at ``path`` is replaced only once the new one is complete, so a
    kill mid-write leaves the old checkpoint intact (DESIGN.md §9).
    """
    from safetensors.numpy import save_file

    target = Path(path)
    meta = validate_metadata(dict(metadata), where=f"{target}/{METADATA_FILE}")
    arrays = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    _check_tensors(arrays, meta, where=str(target / WEIGHTS_FILE))

    def write(tmp: Path) -> None:
        save_file(arrays, str(tmp / WEIGHTS_FILE))
        with open(tmp / METADATA_FILE, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())

    write_dir_atomic(target, write)
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metadata value of type {type(value).__name__} is not JSON-serialisable")


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    expected_features: Sequence[str] | None = OBSERVATION_FEATURES,
    expected_action_mode: str | None = None,
) -> Checkpoint:
    """Read and verify a checkpoint directory.

    Refuses (CheckpointError naming file and problem): a missing file, a safetensors file
    with a bad header or truncated data, bad JSON, metadata missing fields, tensors the
    network names but the file lacks, shapes that do not chain, an observation layout that
    differs from ``expected_features`` and an action mode other than ``expected_action_mode``.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    root = Path(path)
    if root.is_file() and root.suffix == ".onnx":
        raise CheckpointError(
            f"{root}: an ONNX export holds only the network, not the observation layout and action "
            f"decoding rlscale needs to act; give the checkpoint directory it was exported from "
            f"({WEIGHTS_FILE} + {METADATA_FILE}, run in numpy without torch)"
        )
    if not root.is_dir():
        raise CheckpointError(
            f"{root}: not a checkpoint directory (expected {WEIGHTS_FILE} + {METADATA_FILE})"
        )
    meta_path, weights_path = root / METADATA_FILE, root / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: file is missing")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: not valid JSON ({exc})") from exc
    metadata = validate_metadata(metadata, where=str(meta_path))
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path}: corrupt safetensors file ({exc})") from exc
    tensors = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
    for name, arr in tensors.items():
        if not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{weights_path}: tensor {name!r} holds NaN or infinite values")
    _check_tensors(tensors, metadata, where=str(weights_path))
    if expected_features is not None and list(metadata["observation_features"]) != list(expected_features):
        have, want = list(metadata["observation_features"]), list(expected_features)
        diff = sorted(set(have) ^ set(want)) or "same names in a different order"
        raise CheckpointError(
            f"{meta_path}: observation layout mismatch: checkpoint has {len(have)} features, this rlscale "
            f"builds {len(want)}; differing: {diff}"
        )
    if expected_action_mode is not None and metadata["action"]["mode"] != expected_action_mode:
        raise CheckpointError(
            f"{meta_path}: action mode mismatch: checkpoint was trained for {metadata['action']['mode']!r}, "
            f"caller expects {expected_action_mode!r}"
        )
    return Checkpoint(path=root, tensors=tensors, metadata=metadata)
