"""Project-level checks: the README's commands match CI, the layers hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r'^TEST_COMMAND="(.+)"$', ci, flags=re.MULTILINE)
    assert match, ".ci/run must define TEST_COMMAND"
    assert match.group(1) in (ROOT / "README.md").read_text(), (
        "README must show the exact test command CI runs"
    )


def test_import_layers_hold() -> None:
    """DESIGN.md §1: import-linter contracts in pyproject.toml (layers, a torch-free controller)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_lists_every_command() -> None:
    from typer.testing import CliRunner

    from rlscale.cli.main import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert "simulate" in result.output
