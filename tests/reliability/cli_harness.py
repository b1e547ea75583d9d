"""Runs a CLI command in-process (typer's CliRunner) and reads its error the way a user
does: one message (a rich error panel or an ``Error:`` line), never a traceback."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from typer.testing import CliRunner

from rlscale.cli.main import app

#: Cases run and faults injected, by kind (written out by conftest.fuzz_report).
COUNTS: Counter[str] = Counter()

_PANEL_LINE = re.compile(r"^\s*│(.*)│\s*$")
_BARE_ERROR = re.compile(r"^\s*(Error|error)\b:?\s*(.*)$")


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    error: str  # the error message unwrapped to one line ("" when none)
    crashed: BaseException | None  # an exception that escaped the command


def invoke(args: list[str]) -> Outcome:
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    crashed = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(
        result.exit_code, result.stdout, result.stderr, error_of(result.stderr + result.stdout), crashed
    )


def error_of(text: str) -> str:
    """The error message in ``text`` as one line: a rich panel's lines joined, or an ``Error:`` line."""
    panel = [m.group(1).strip() for line in text.splitlines() if (m := _PANEL_LINE.match(line))]
    if panel:
        return " ".join(panel)
    for line in text.splitlines():
        m = _BARE_ERROR.match(line)
        if m:
            return line.strip()
    return ""


def assert_clear_error(outcome: Outcome, *names: str) -> None:
    """Exit 2, no traceback, one error message mentioning every one of ``names``."""
    assert outcome.crashed is None, f"escaped: {type(outcome.crashed).__name__}: {outcome.crashed}"
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text, text[-2000:]
    assert outcome.exit_code == 2, (outcome.exit_code, text[-2000:])
    assert outcome.error, f"no error message in: {text[-2000:]}"
    for name in names:
        assert name.lower() in outcome.error.lower(), (name, outcome.error)
