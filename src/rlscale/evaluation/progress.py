"""The evaluation's progress bar (rich, on stderr so ``--json`` keeps stdout clean)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressSink(Protocol):
    def __call__(self, steps: int) -> None: ...


@contextmanager
def rich_progress(total_steps: int, enabled: bool) -> Iterator[Callable[[str], ProgressSink]]:
    """``sink_for(label)`` gives a callback that advances one bar of ``total_steps`` env-steps
    (does nothing when not ``enabled``)."""
    if not enabled:
        yield lambda label: lambda steps: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(  # on stderr, so `--json` keeps stdout clean
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("evaluating", total=total_steps)

        def sink_for(label: str) -> ProgressSink:
            bar.update(task, description=label)
            return lambda steps: bar.advance(task, steps)

        yield sink_for
