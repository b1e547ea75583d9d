"""``rlscale calibrate``: fit a service preset from a running service's Prometheus history (the
options are generated from :class:`CalibrateConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import EXIT_BAD_INPUT
from rlscale.core.settings import ConfigError, setting
from rlscale.core.spec import DEFAULT_SERVICE


@dataclass(frozen=True)
class CalibrateConfig:
    """Whose history to read, how, and where the fitted preset goes. :meth:`validate` names
    every bad flag at once. (Here, not in ``rlscale.calibration``: importing that package
    loads the fitting code, which ``rlscale --help`` should not.)"""

    prometheus: str = setting(
        flags=("--prometheus",), help="Prometheus base URL, e.g. http://127.0.0.1:9090."
    )
    namespace: str = setting(flags=("--namespace",), help="Namespace of the Deployment.")
    deployment: str = setting(flags=("--deployment",), help="Deployment name (also the 'service' label).")
    out: Path = setting(flags=("--out",), help="Where to write the fitted preset (JSON).")
    since: str = setting("30m", flags=("--since",), help="How far back to read, a duration (30m, 1h, 90s).")
    step: str = setting(
        "5s", flags=("--step",), help="Range-query step for rates (replica counts are read at min(step, 1s))."
    )
    window: str = setting(
        "1m", flags=("--window",), help="rate() window: at least four scrape intervals (Prometheus docs)."
    )
    base: str = setting(
        DEFAULT_SERVICE,
        flags=("--base",),
        help="Preset (name or JSON file) for everything not fitted (SLO, bounds, step, prices) and for "
        "values the data cannot give.",
    )
    cpu_limit_cores: float | None = setting(
        None,
        flags=("--cpu-limit-cores",),
        help="Per-pod CPU limit, cores (default: kube_pod_container_resource_limits, else the request).",
    )
    timeout_s: float = setting(10.0, flags=("--timeout",), help="Seconds per Prometheus query.")
    report: Path | None = setting(
        None, flags=("--report",), help="Also write the fitted parameters, notes and diagnostics as JSON."
    )

    def seconds(self, name: str) -> float:
        """The duration flag ``name`` (``since``, ``step``) in seconds; ValueError naming it."""
        from rlscale.calibration import parse_duration_s

        return parse_duration_s(getattr(self, name), f"{{{name}}}")

    def validate(self) -> CalibrateConfig:
        from rlscale.controller.client import validate_http_url
        from rlscale.core.output_paths import check_output_file

        checks = [
            lambda: validate_http_url(self.prometheus, "{prometheus}"),
            lambda: check_output_file(self.out, "{out}"),
            lambda: self.report is None or check_output_file(self.report, "{report}"),
            lambda: self.seconds("since"),
            lambda: self.seconds("step"),
        ]
        problems = []
        for check in checks:
            try:
                check()
            except ValueError as exc:
                problems.append(str(exc))
        if self.cpu_limit_cores is not None and not 0 < self.cpu_limit_cores < math.inf:
            problems.append(f"{{cpu_limit_cores}} must be a finite number > 0, got {self.cpu_limit_cores}")
        if not 0 < self.timeout_s < math.inf:
            problems.append(f"{{timeout_s}} must be a finite number > 0, got {self.timeout_s}")
        if problems:
            raise ConfigError(type(self), problems)
        return self


def register(app: typer.Typer) -> None:
    app.command(
        name="calibrate",
        help="Fit a service preset (capacity, CPU model, start-up delay, base latency) from a "
        "Deployment's Prometheus history and write it as a JSON file that --service accepts.",
    )(config_command(CalibrateConfig, action=calibrate))


def calibrate(config: CalibrateConfig) -> None:
    """Reads request rate, CPU, latency histogram and replica counts over --since, fits the
    service model and writes the preset to --out. Exits 2 on bad input or unusable data."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rlscale.calibration import calibrate_prometheus

    console = Console()
    try:
        config.validate()
        result = calibrate_prometheus(
            config.prometheus,
            config.namespace,
            config.deployment,
            since_s=config.seconds("since"),
            step_s=config.seconds("step"),
            base=config.base,
            window=config.window,
            cpu_limit_cores=config.cpu_limit_cores,
            timeout_s=config.timeout_s,
            out=config.out,
        )
    except ValueError as exc:  # ConfigError and CalibrationDataError included
        # on stderr, one line; a URL in brackets is not markup
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None

    table = Table(title=f"{config.namespace}/{config.deployment}: fitted over the last {config.since}")
    for col in ("parameter", "value", "unit", "± (1 s.e.)", "samples", "from"):
        table.add_column(col, justify="right" if col in ("value", "± (1 s.e.)", "samples") else "left")
    for p in result.parameters:
        stderr = "" if math.isnan(p.stderr) else f"{p.stderr:.3g}"
        source = p.source + (f" ({p.note})" if p.note else "")
        table.add_row(p.name, f"{p.value:.4g}", p.unit, stderr, str(p.samples or ""), source)
    console.print(table)
    for key, value in result.diagnostics.items():
        console.print(f"  {key}: {value:.4g}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if config.report is not None:
        result.write_report(config.report)
    console.print(f"wrote {config.out} (use it with --service {config.out})")
