"""``rlscale emulate``: an emulated Kubernetes cluster on loopback, driven by the simulator."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command(
        name="emulate",
        help="Serve an emulated Kubernetes API (https, per-run CA and token in the kubeconfig) and /metrics "
        "(plain http) on 127.0.0.1, driven by the simulator, until Ctrl-C. No CRDs at start: apply deploy/crd.yaml.",
    )(emulate)


def emulate(
    service: str = typer.Option(
        "fast",
        "--service",
        help="Service preset: 'fast' (1 s steps, 2 s start-up), a simulator preset (web, ...) or a JSON file.",
    ),
    name: str = typer.Option("web", "--name", help="Deployment name of the emulated service."),
    namespace: str = typer.Option("default", "--namespace", help="Namespace of the Deployment."),
    trace: str | None = typer.Option(
        None, "--trace", help="Load from a trace: a name (nasa, ...), 'synthetic:<kind>?k=v' or a CSV path."
    ),
    load_rps: float | None = typer.Option(
        None, "--load-rps", help="Constant load, req/s (instead of a trace)."
    ),
    peak_fraction: float = typer.Option(
        0.8, "--peak-fraction", help="Trace/wave peak as a fraction of the capacity at max replicas."
    ),
    wave_period_s: float = typer.Option(
        600.0, "--wave-period", help="Period of the default rising-and-falling load, simulated seconds."
    ),
    replicas: int | None = typer.Option(
        None, "--replicas", help="Initial replicas (default: the preset's min)."
    ),
    speedup: float = typer.Option(
        1.0, "--speedup", help="Simulated seconds per wall second (rates are unchanged)."
    ),
    port: int = typer.Option(0, "--port", help="HTTPS port of the API server on 127.0.0.1 (0: a free one)."),
    metrics_port: int = typer.Option(
        0, "--metrics-port", help="Plain-http port of /metrics, the Prometheus scrape target (0: a free one)."
    ),
    kubeconfig: str = typer.Option(
        "rlscale-emulator.kubeconfig",
        "--kubeconfig",
        help="Where to write the kubeconfig for the emulated cluster.",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of arrivals and start-up delays."),
) -> None:
    """Run until Ctrl-C; prints the kubeconfig path and the metrics URL to scrape."""
    import asyncio

    from rich.console import Console

    from rlscale.core.output_paths import check_output_file
    from rlscale.emulator import Emulator
    from rlscale.emulator.services import make_service

    console = Console()
    if not 0 < speedup < float("inf"):
        raise typer.BadParameter(
            f"--speedup must be a finite number > 0, got {speedup}", param_hint="--speedup"
        )
    if not 0 <= port <= 65535:
        raise typer.BadParameter(f"must be in [0, 65535], got {port}", param_hint="--port")
    if replicas is not None and replicas < 0:
        raise typer.BadParameter(f"must be >= 0, got {replicas}", param_hint="--replicas")
    try:
        check_output_file(kubeconfig, "--kubeconfig")
        svc = make_service(
            name,
            service,
            namespace=namespace,
            trace=trace,
            load_rps=load_rps,
            peak_fraction=peak_fraction,
            wave_period_s=wave_period_s,
            initial_replicas=replicas,
        )
        emu = Emulator([svc], speedup=speedup, port=port, metrics_port=metrics_port, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    async def main() -> None:
        await emu.start_async()
        path = emu.write_kubeconfig(kubeconfig, namespace=namespace)
        console.print(f"API server   {emu.url}")
        console.print(f"kubeconfig   {path.resolve()}  (kubectl --kubeconfig {path} get pods)")
        console.print(f"metrics      {emu.metrics_url}")
        console.print(
            f"deployment   {namespace}/{name} (preset {service}, step {emu.cluster.step_s} s, speed-up {speedup}x)"
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
            f"Error: --port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", err=True
        )
        raise typer.Exit(2) from None
