"""``rlscale export``: a checkpoint's policy as ONNX, for inference without torch (the options
are generated from :class:`ExportConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.core.settings import ConfigError, setting


@dataclass(frozen=True)
class ExportConfig:
    """Which checkpoint to export, and where. :meth:`validate` names each bad flag."""

    checkpoint: Path = setting(
        flags=("--checkpoint",), help="Checkpoint directory (model.safetensors + metadata.json)."
    )
    out: Path = setting(Path("model.onnx"), flags=("--out",), help="ONNX file to write.")

    def validate(self) -> ExportConfig:
        """The destination is checked before the (slow) export; the checkpoint when it is read."""
        from rlscale.core.output_paths import check_output_file

        try:
            check_output_file(self.out, "{out}")
        except ValueError as exc:
            raise ConfigError(type(self), [str(exc)]) from None
        return self


def register(app: typer.Typer) -> None:
    app.command("export")(config_command(ExportConfig, action=export_cmd))


def export_cmd(config: ExportConfig) -> None:
    """Export the policy network to ONNX, for torch-free inference (ONNX Runtime).

    Input 'observation', output 'action'. A policy trained with --forecaster also gets OUT-stem.forecaster.onnx (input 'history', output 'forecast')."""
    from rlscale.nets.checkpoint import CheckpointError
    from rlscale.nets.onnx_export import export_onnx

    with exit_on_bad_input():
        config.validate()
    try:
        paths = export_onnx(config.checkpoint, config.out)
    except CheckpointError as exc:
        raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
    for path in paths:
        typer.echo(f"wrote {path}")
