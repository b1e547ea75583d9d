"""``rlscale emulate``: an emulated Kubernetes cluster on loopback, driven by the simulator
(the options are generated from :class:`EmulateConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from rlscale.cli._config_command import config_command
from rlscale.cli._options import EXIT_BAD_INPUT, exit_on_bad_input
from rlscale.core.settings import ConfigError, setting


@dataclass(frozen=True)
class EmulateConfig:
    """One emulated cluster with one service. :meth:`validate` names each bad flag."""

    service: str = setting(
        "fast",
        flags=("--service",),
        help="Service preset: 'fast' (1 s steps, 2 s start-up), a simulator preset (web, ...) or a JSON file.",
    )
    name: str = setting("web", flags=("--name",), help="Deployment name of the emulated service.")
    namespace: str = setting("default", flags=("--namespace",), help="Namespace of the Deployment.")
    trace: str | None = setting(
        None,
        flags=("--trace",),
        help="Load from a trace: a name (nasa, ...), 'synthetic:<kind>?k=v' or a CSV path.",
    )
    load_rps: float | None = setting(
        None, flags=("--load-rps",), unit="requests/s", help="Constant load (instead of a trace)."
    )
    peak_fraction: float = setting(
        0.8, flags=("--peak-fraction",), help="Trace/wave peak as a fraction of the capacity at max replicas."
    )
    wave_period_s: float = setting(
        600.0,
        flags=("--wave-period",),
        unit="simulated s",
        help="Period of the default rising-and-falling load.",
    )
    replicas: int | None = setting(
        None, flags=("--replicas",), help="Initial replicas (default: the preset's min)."
    )
    speedup: float = setting(
        1.0, flags=("--speedup",), help="Simulated seconds per wall second (rates are unchanged)."
    )
    port: int = setting(
        0, flags=("--port",), help="HTTPS port of the API server on 127.0.0.1 (0: a free one)."
    )
    metrics_port: int = setting(
        0,
        flags=("--metrics-port",),
        help="Plain-http port of /metrics, the Prometheus scrape target (0: a free one).",
    )
    kubeconfig: str = setting(
        "rlscale-emulator.kubeconfig",
        flags=("--kubeconfig",),
        help="Where to write the kubeconfig for the emulated cluster.",
    )
    seed: int = setting(0, flags=("--seed",), help="Seed of arrivals and start-up delays.")

    def validate(self) -> EmulateConfig:
        from rlscale.core.output_paths import check_output_file

        problems = []
        if not 0 < self.speedup < float("inf"):
            problems.append(f"{{speedup}} must be a finite number > 0, got {self.speedup}")
        for name in ("port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                problems.append(f"{{{name}}} {getattr(self, name)} must be in [0, 65535]")
        for name in ("replicas", "seed"):
            if (getattr(self, name) or 0) < 0:
                problems.append(f"{{{name}}} must be >= 0, got {getattr(self, name)}")
        try:
            check_output_file(self.kubeconfig, "{kubeconfig}")
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ConfigError(type(self), problems)
        return self


def register(app: typer.Typer) -> None:
    app.command(
        name="emulate",
        help="Serve an emulated Kubernetes API (https, per-run CA and token in the kubeconfig) and /metrics "
        "(plain http) on 127.0.0.1, driven by the simulator, until Ctrl-C. No CRDs at start: apply deploy/crd.yaml.",
    )(config_command(EmulateConfig, action=_emulate))


def _emulate(config: EmulateConfig) -> None:
    """Run until Ctrl-C; prints the kubeconfig path and the metrics URL to scrape."""
    import asyncio

    from rich.console import Console

    from rlscale.emulator import Emulator
    from rlscale.emulator.services import make_service

    console = Console()
    with exit_on_bad_input():
        config.validate()
        svc = make_service(
            config.name,
            config.service,
            namespace=config.namespace,
            trace=config.trace,
            load_rps=config.load_rps,
            peak_fraction=config.peak_fraction,
            wave_period_s=config.wave_period_s,
            initial_replicas=config.replicas,
        )
        emu = Emulator(
            [svc],
            speedup=config.speedup,
            port=config.port,
            metrics_port=config.metrics_port,
            seed=config.seed,
        )

    async def main() -> None:
        await emu.start_async()
        path = emu.write_kubeconfig(config.kubeconfig, namespace=config.namespace)
        console.print(f"API server   {emu.url}")
        console.print(f"kubeconfig   {path.resolve()}  (kubectl --kubeconfig {path} get pods)")
        console.print(f"metrics      {emu.metrics_url}")
        console.print(
            f"deployment   {config.namespace}/{config.name} (preset {config.service}, step {emu.cluster.step_s} s, "
            f"speed-up {config.speedup}x)"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop_async()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as exc:  # the port is taken, or not ours to bind
        typer.echo(
            f"Error: --port {config.port}: cannot listen on 127.0.0.1:{config.port}: {exc.strerror or exc}",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
