"""``rlscale export``: a checkpoint's policy as ONNX, for inference without torch."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        checkpoint: Path = typer.Option(
            ..., help="Checkpoint directory (model.safetensors + metadata.json)."
        ),
        out: Path = typer.Option(Path("model.onnx"), help="ONNX file to write."),
    ) -> None:
        """Export the policy network to ONNX, for torch-free inference (ONNX Runtime).

        Input 'observation', output 'action'. A policy trained with --forecaster also gets OUT-stem.forecaster.onnx (input 'history', output 'forecast')."""
        from rlscale.cli._options import exit_on_bad_input
        from rlscale.core.output_paths import check_output_file
        from rlscale.nets.checkpoint import CheckpointError
        from rlscale.nets.onnx_export import export_onnx

        with exit_on_bad_input():
            check_output_file(out, "--out")
        try:
            paths = export_onnx(checkpoint, out)
        except CheckpointError as exc:
            raise typer.BadParameter(str(exc), param_hint="--checkpoint") from exc
        for path in paths:
            typer.echo(f"wrote {path}")
