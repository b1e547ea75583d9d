"""Ray as the scale-out engine (issue 16): --ray local gives the report of a local run, a
worker that dies is retried, and nothing is left running. Every test starts and stops its own
local Ray (2 CPUs, no dashboard)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from rlscale.evaluation.distributed import RayTaskRunner  # noqa: E402
from rlscale.evaluation.harness import EvaluateConfig, EvaluationInputError, prepare, run_and_write  # noqa: E402


@pytest.fixture
def no_ray_left() -> object:
    """Every test here must leave no Ray behind, whatever it does."""
    assert not ray.is_initialized()
    yield
    try:
        assert not ray.is_initialized(), "a local Ray was left running"
    finally:
        ray.shutdown()


def _numbers(report: dict) -> dict:
    """Everything in report.json but the command line (which says --ray)."""
    out = dict(report)
    out["config"] = {k: v for k, v in report["config"].items() if k != "command"}
    return out


def _assert_same(a: object, b: object, where: str = "report") -> None:
    """Equal structure, text and flags; floats to 1e-12 relative. Not bit for bit: the
    simulator's Erlang C picks its algorithm per batch (size, largest pod count), so an env's
    last bits can depend on what shares its batch, and Ray cuts the work into other batches."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-12, abs=1e-300), where
    else:
        assert a == b, where


def test_ray_local_report_equals_the_local_run(tmp_path: Path, no_ray_left: object) -> None:
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for name, kind in (("a", "periodic"), ("b", "ramp"), ("c", "spike")):
        synthetic = f"synthetic:{kind}?steps=120&seed=4"
        from rlscale.workload.registry import get_trace

        trace = get_trace(synthetic, step_s=15.0)
        rows = "".join(f"{i * 15},{c:.0f}\n" for i, c in enumerate(trace.rate_rps * 15.0))
        (fleet / f"{name}.csv").write_text("time_s,requests\n" + rows)
    base = {
        "traces": [str(fleet)],
        "policies": ["hpa", "hpa-frontier:lo=50,hi=90,step=20", "kpa"],
        "seeds": 2,
    }
    local = json.loads(run_and_write(prepare(EvaluateConfig(**base, out=tmp_path / "l")))[1].read_text())
    remote = json.loads(
        run_and_write(prepare(EvaluateConfig(**base, out=tmp_path / "r", ray="local", ray_cpus=2)))[
            1
        ].read_text()
    )
    _assert_same(_numbers(remote), _numbers(local))
    assert remote["fleet"]["services"] == 3


def test_a_worker_that_dies_is_retried(tmp_path: Path, no_ray_left: object) -> None:
    marker = tmp_path / "died-once"

    def dies_first_time(x: int) -> int:
        if x == 1 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies, as in an OOM kill
        return 10 * x

    done: list[int] = []
    with RayTaskRunner("local", num_cpus=2) as runner:
        out = runner.map([((x,), {}) for x in range(3)], [1, 1, 1], done.append, fn=dies_first_time)
        assert ray.is_initialized()
    assert out == [0, 10, 20]
    assert marker.exists() and sum(done) == 3


def test_a_ray_it_did_not_start_is_left_running(no_ray_left: object) -> None:
    ray.init(num_cpus=1, include_dashboard=False)
    with RayTaskRunner("local") as runner:
        assert runner.parallelism == 1
    assert ray.is_initialized()
    ray.shutdown()


@pytest.mark.parametrize(("address", "needle"), [("nowhere", "--ray must be"), ("ray://", "--ray must be")])
def test_a_bad_address_is_an_input_error(address: str, needle: str) -> None:
    with pytest.raises(EvaluationInputError, match=needle):
        prepare(EvaluateConfig(traces=["synthetic:ramp?steps=40"], policies=["hpa"], seeds=1, ray=address))


def test_cli_bad_ray_address_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from rlscale.cli.evaluate import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "rep"
    args = ["evaluate", "--trace", "synthetic:ramp?steps=40", "--policy", "hpa", "--ray", "nowhere"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "--ray must be" in result.output
    assert not out.exists()


def test_ctrl_c_shuts_the_local_ray_down(tmp_path: Path, no_ray_left: object) -> None:
    """Ctrl-C (SIGINT to the foreground process group) during `evaluate --ray local`: the
    command stops while its tasks run, every process of the Ray it started is gone, and no
    report is written."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    src = str(Path(__file__).resolve().parents[2] / "src")
    out = tmp_path / "rep"
    args = ["evaluate", "--trace", "synthetic:periodic?steps=200000", "--policy", "hpa", "--seeds", "5"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlscale.cli.main",
            *args,
            "--ray",
            "local",
            "--ray-cpus",
            "2",
            "--out",
            str(out),
        ],
        env={**os.environ, "PYTHONPATH": src},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        ray_procs: list[psutil.Process] = []
        while time.monotonic() < deadline and not any(p.name() == "ray::run_traces" for p in ray_procs):
            time.sleep(0.5)
            ray_procs = parent.children(recursive=True)
        assert any(p.name() == "ray::run_traces" for p in ray_procs), "no evaluation task ever ran"
        ray_procs = parent.children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=90) != 0
        _, alive = psutil.wait_procs(ray_procs, timeout=30)
        assert not alive, f"left running: {[p.name() for p in alive]}"
        assert not out.exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
