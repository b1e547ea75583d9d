"""The numbered bad inputs of issue 14 (cases 9–13), each through the real CLI: exit 2, one
error naming the problem, no traceback; and ``simulate --json`` prints JSON only."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from tests.reliability.cli_harness import assert_clear_error, invoke

from rlscale.sim.presets import PRESETS, save_service


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "zero": tmp_path / "zero.csv",
        "gap": tmp_path / "gap.csv",
        "bigstep": tmp_path / "bigstep.csv",
        "file": tmp_path / "a-file",
        "dir": tmp_path / "a-dir",
    }
    out["zero"].write_text("time_s,rps\n0,0\n15,0\n30,0\n45,0\n")
    out["gap"].write_text("time_s,rps,gap\n0,5,1\n15,5,1\n30,5,1\n")
    out["bigstep"].write_text("time_s,rps\n0,1\n1000000000000,2\n")
    out["file"].write_text("x")
    out["dir"].mkdir()
    return out


def service_file(tmp_path: Path, **spec_overrides: object) -> Path:
    path = save_service(PRESETS["web"], tmp_path / "svc.json")
    data = json.loads(path.read_text())
    data["spec"].update(spec_overrides)
    path.write_text(json.dumps(data, allow_nan=True))
    return path


@pytest.mark.parametrize(
    ("key", "args", "names"),
    [
        ("zero", ["simulate", "--trace", "{zero}"], ["--trace", "all-zero"]),
        ("gap", ["simulate", "--trace", "{gap}"], ["--trace", "no valid steps"]),
        ("bigstep", ["simulate", "--trace", "{bigstep}"], ["--trace", "more than 10,000,000"]),
        ("inf", ["simulate", "--policy", "hpa:target=inf"], ["--policy", "target", "finite"]),
        ("window", ["evaluate", "--window-hours", "inf", "--out", "{dir}/r"], ["--window-hours"]),
        (
            "notaurl",
            [
                "calibrate",
                "--prometheus",
                "notaurl",
                "--namespace",
                "d",
                "--deployment",
                "w",
                "--out",
                "{dir}/p.json",
            ],
            ["--prometheus", "notaurl"],
        ),
        ("port", ["emulate", "--port", "70000"], ["--port", "70000"]),
        ("kubeconfig", ["emulate", "--kubeconfig", "{dir}"], ["--kubeconfig", "folder"]),
        ("export", ["export", "--checkpoint", "{dir}", "--out", "{dir}"], ["--out", "folder"]),
        ("evaluate-out", ["evaluate", "--out", "{file}"], ["--out", "is a file"]),
        ("pools-out", ["evaluate", "--service", "pools", "--out", "{file}/r"], ["--out", "is a file"]),
        ("train-out", ["train", "--out", "{file}"], ["--out", "is a file"]),
        ("train-eval", ["train", "--eval-every", "0", "--out", "{dir}/t"], ["--eval-every"]),
        ("train-steps", ["train", "--timesteps", "-5", "--out", "{dir}/t"], ["--timesteps"]),
        ("train-nan", ["train", "--slo-weight", "nan", "--out", "{dir}/t"], ["--slo-weight"]),
        ("train-resume", ["train", "--resume", "--out", "{dir}"], ["--resume", "nothing to resume"]),
        (
            "calibrate-out",
            [
                "calibrate",
                "--prometheus",
                "http://127.0.0.1:9",
                "--namespace",
                "d",
                "--deployment",
                "w",
                "--out",
                "{dir}",
            ],
            ["--out", "folder"],
        ),
    ],
)
def test_bad_input_gets_a_clear_error(
    files: dict[str, Path], key: str, args: list[str], names: list[str]
) -> None:
    filled = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    assert_clear_error(invoke(filled), *names)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"min_replicas": 2.5}, ["min_replicas", "integer"]),
        ({"max_replicas": 0}, ["max_replicas"]),
        ({"memory_request_gib": float("nan")}, ["memory_request_gib", "finite"]),
        ({"cpu_request_cores": float("inf")}, ["cpu_request_cores", "finite"]),
    ],
)
def test_bad_service_files_are_named(tmp_path: Path, overrides: dict[str, object], names: list[str]) -> None:
    path = service_file(tmp_path, **overrides)
    assert_clear_error(invoke(["simulate", "--service", str(path), "--hours", "0.1"]), "--service", *names)


def test_emulate_on_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        outcome = invoke(["emulate", "--port", str(port), "--kubeconfig", str(tmp_path / "k")])
    assert_clear_error(outcome, f"--port {port}", "cannot listen")


def test_simulate_json_prints_only_json_when_the_trace_is_short() -> None:
    outcome = invoke(
        ["simulate", "--trace", "synthetic:spike", "--hours", "1000", "--json", "--policy", "hpa"]
    )
    assert outcome.exit_code == 0, outcome.stderr
    summary = json.loads(outcome.stdout)  # the whole of stdout is the JSON document
    assert summary["policy"] == "hpa"
    assert "running all of it" in outcome.stderr
