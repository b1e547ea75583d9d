"""The ``rlscale`` command. Each subcommand lives in its own module and imports its heavy
dependencies inside the function, so ``rlscale --help`` stays fast."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rlscale",
    help="Reinforcement-learning autoscaler for Kubernetes: simulate, evaluate against the HPA, "
    "train, and run live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Registration: one line per command module (keep alphabetical).
from rlscale.cli import calibrate as _calibrate  # noqa: E402
from rlscale.cli import emulate as _emulate  # noqa: E402
from rlscale.cli import evaluate as _evaluate  # noqa: E402
from rlscale.cli import export as _export  # noqa: E402
from rlscale.cli import loadgen as _loadgen  # noqa: E402
from rlscale.cli import operator as _operator  # noqa: E402
from rlscale.cli import run as _run  # noqa: E402
from rlscale.cli import serve as _serve  # noqa: E402
from rlscale.cli import simulate as _simulate  # noqa: E402
from rlscale.cli import train as _train  # noqa: E402

_calibrate.register(app)
_emulate.register(app)
_evaluate.register(app)
_export.register(app)
_loadgen.register(app)
_operator.register(app)
_run.register(app)
_serve.register(app)
_simulate.register(app)
_train.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
