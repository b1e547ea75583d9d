"""``rlscale operator``: the kopf operator for ``RLAutoscaler`` custom resources (the options are
generated from :class:`~rlscale.controller.operator_config.OperatorConfig`)."""

from __future__ import annotations

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import exit_on_bad_input
from rlscale.controller.operator_config import OperatorConfig


def register(app: typer.Typer) -> None:
    app.command(
        name="operator",
        help="Run the kopf operator: one guarded control loop per RLAutoscaler, with leader election.",
    )(operator)


def _operator(config: OperatorConfig) -> None:
    """Watches RLAutoscalers in one namespace. For each, every spec.intervalSeconds: read
    Prometheus, ask the policy, pass the answer through the safety guard, patch the
    Deployment's scale; record the decision in status, events and the decision log. Of
    several replicas only the Lease holder acts."""
    import logging
    import signal

    from rlscale.controller.operator import Operator

    logging.basicConfig(
        level=logging.DEBUG if config.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with exit_on_bad_input():
        instance = Operator(config.validate())
    signal.signal(signal.SIGTERM, lambda *_: instance.stop_flag.set())
    try:
        instance.run()
    except KeyboardInterrupt:
        instance.stop_flag.set()


operator = config_command(OperatorConfig, action=_operator)
