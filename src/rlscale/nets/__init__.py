"""Networks and checkpoints. This package's import is torch-free (the live controller loads
checkpoints through it); torch modules live in :mod:`rlscale.nets.modules`, imported only by
training code."""

from rlscale.nets.checkpoint import (
    FORMAT_VERSION,
    METADATA_FILE,
    WEIGHTS_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    validate_metadata,
)
from rlscale.nets.forward import deterministic_action, mlp_forward

__all__ = [
    "FORMAT_VERSION",
    "METADATA_FILE",
    "WEIGHTS_FILE",
    "Checkpoint",
    "CheckpointError",
    "deterministic_action",
    "load_checkpoint",
    "mlp_forward",
    "save_checkpoint",
    "validate_metadata",
]
