"""``rlscale run``: the live controller for one target, configured by flags or RLSCALE_* variables
(the options are generated from :class:`~rlscale.controller.run_config.RunConfig`)."""

from __future__ import annotations

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.controller.run_config import RunConfig


def register(app: typer.Typer) -> None:
    app.command(
        name="run", help="Run the live autoscaler for one Deployment (reads Prometheus, patches its scale)."
    )(run)


def _run(config: RunConfig) -> None:
    """Reads metrics every --interval, asks the policy, passes the answer through the safety
    guard (hold/fallback, bounds, stabilisation, max step, dry run) and patches the scale."""
    import signal
    import threading

    from rlscale.controller.app import run as run_controller

    stop = threading.Event()
    try:
        with exit_on_bad_input():
            config.validate()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            run_controller(config, stop)
    except KeyboardInterrupt:
        stop.set()


run = config_command(RunConfig, action=_run)


def main() -> None:
    """``python -m rlscale.cli.run ...``: the controller alone (the container entry point)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(run)
    app()


if __name__ == "__main__":
    main()
