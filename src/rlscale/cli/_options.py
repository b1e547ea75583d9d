"""Pieces shared by the commands: one rule for bad input, and the console the ``evaluate``
tables print to. (Every command's options are generated from its configuration:
:mod:`rlscale.cli._config_command`.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: Exit status for bad input: click's usage-error code, so a wrong flag and a wrong value agree.
EXIT_BAD_INPUT = 2


@contextmanager
def exit_on_bad_input() -> Iterator[None]:
    """A ``ValueError`` inside becomes ``Error: <message>`` on stderr and exit status 2, not a
    traceback: the configuration objects raise ValueError naming the bad field."""
    try:
        yield
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc


def table_console(to_stderr: bool) -> Console:
    """The console a results table prints to: stderr when stdout carries ``--json``; when not a
    terminal (piped or captured) 120 columns wide, as there is no width to respect and a
    narrower default would cut the table."""
    from rich.console import Console

    console = Console(stderr=to_stderr)
    if not console.is_terminal:
        console = Console(stderr=to_stderr, width=120)
    return console
