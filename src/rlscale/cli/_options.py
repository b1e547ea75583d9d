"""Pieces shared by the commands: one declaration per live-command flag (``run``, ``operator``,
``serve``), so its name, environment variable and help cannot drift apart between commands,
one rule for bad input, and the console the ``evaluate`` tables print to. Each option factory
returns a fresh ``typer.Option`` per use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: Exit status for bad input: click's usage-error code, so a wrong flag and a wrong value agree.
EXIT_BAD_INPUT = 2


def kubeconfig_option() -> Any:
    """``--kubeconfig`` for commands that talk to a cluster."""
    return typer.Option(
        None,
        "--kubeconfig",
        envvar="RLSCALE_KUBECONFIG",
        help="Kubeconfig path, or 'in-cluster' (default: ~/.kube/config).",
    )


def log_file_option() -> Any:
    """``--log-file`` for the JSON-lines decision log."""
    return typer.Option(
        None,
        "--log-file",
        envvar="RLSCALE_LOG_FILE",
        help="Append JSON-lines decision logs here (default: stdout).",
    )


def metrics_port_option(component: str) -> Any:
    """``--metrics-port`` for the process's own /metrics; ``component`` names it in the help."""
    return typer.Option(
        None,
        "--metrics-port",
        envvar="RLSCALE_METRICS_PORT",
        help=f"Serve the {component}'s own /metrics on this port.",
    )


def metrics_addr_option() -> Any:
    """``--metrics-addr``: loopback by default, so nothing is exposed unless asked."""
    return typer.Option(
        "127.0.0.1",
        "--metrics-addr",
        envvar="RLSCALE_METRICS_ADDR",
        help="Address for /metrics (0.0.0.0 in a pod).",
    )


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
