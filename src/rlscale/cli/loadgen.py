"""``rlscale loadgen``: replay a trace open-loop against an HTTP endpoint (locust as a library); the
options are generated from :class:`~rlscale.loadgen.replay.LoadgenConfig` and :class:`LoadgenLaunch`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.core.settings import ConfigError, setting
from rlscale.loadgen.replay import LoadgenConfig


@dataclass(frozen=True)
class LoadgenLaunch:
    """Where this command puts the report (not part of what is replayed)."""

    output: Path | None = setting(None, flags=("--output", "-o"), help="Write the JSON report here.")
    as_json: bool = setting(False, flags=("--json",), help="Print the JSON report instead of a table.")

    def validate(self) -> LoadgenLaunch:
        """The report's destination is checked before the (long) replay, not after it."""
        from rlscale.core.output_paths import check_output_file

        if self.output is not None:
            try:
                check_output_file(self.output, "{output}")
            except ValueError as exc:
                raise ConfigError(type(self), [str(exc)]) from None
        return self


def register(app: typer.Typer) -> None:
    app.command(
        name="loadgen",
        help="Replay a trace open-loop against an HTTP endpoint; report achieved rate and latency.",
    )(config_command(LoadgenConfig, LoadgenLaunch, action=loadgen))


def loadgen(config: LoadgenConfig, launch: LoadgenLaunch) -> None:
    """Replay a trace open-loop: arrivals follow the trace, never the response time; report the
    achieved rate and latency percentiles."""
    from rich.console import Console
    from rich.table import Table

    from rlscale.loadgen.replay import LoadgenError, run_loadgen_subprocess, write_json_atomic

    with exit_on_bad_input():
        launch.validate()
    try:
        report = run_loadgen_subprocess(config)
    except LoadgenError as exc:
        raise typer.BadParameter(str(exc)) from None
    data = report.to_dict()
    if launch.output is not None:
        write_json_atomic(launch.output, data)
    if launch.as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"loadgen {report.trace} -> {report.url}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("duration (s)", f"{report.duration_s:.1f}")
    table.add_row("requests sent / expected", f"{report.requests} / {report.expected_requests:.0f}")
    table.add_row("achieved rate (req/s)", f"{report.achieved_rps:.2f} (trace {report.expected_rps:.2f})")
    table.add_row("failures", str(report.failures))
    table.add_row("skipped (in-flight cap)", str(report.skipped_inflight_cap))
    for key in ("p50", "p90", "p95", "p99", "max"):
        if key in report.latency_s:
            table.add_row(f"latency {key} (ms)", f"{report.latency_s[key] * 1000:.1f}")
    Console().print(table)
