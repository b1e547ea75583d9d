"""Every command's options are generated from its configuration (rlscale.core.settings): the
flags, defaults and repeatable options the commands had when they were written by hand are all
still there, a bad value exits 2 naming each flag at fault, and docs/flags.md lists every command."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rlscale.cli import flag_docs
from rlscale.cli._config_command import config_command
from rlscale.cli.main import app as rlscale_app
from rlscale.core.settings import command_args, settings_of
from rlscale.evaluation.evaluate_config import EvaluateConfig
from rlscale.evaluation.harness import canonical_command

# The options of the hand-written commands before issue 12 moved them onto settings:
# flag(s) -> (default, required, repeatable); taken from the commands' click parameters.
BEFORE: dict[str, dict[str, tuple[Any, bool, bool]]] = {
    "evaluate": {
        "--trace": (None, False, True),
        "--column": (None, False, False),
        "--policy": (None, False, True),
        "--service": ("web", False, False),
        "--seeds": (5, False, False),
        "--window-hours": (None, False, False),
        "--windows": (None, False, False),
        "--chunk-hours": (None, False, False),
        "--warmup-hours": (0.0, False, False),
        "--slo-budget": (None, False, True),
        "--ray": (None, False, False),
        "--ray-cpus": (None, False, False),
        "--out": (Path("reports/evaluate"), False, False),
        "--json": (False, False, False),
    },
    "simulate": {
        "--service": ("web", False, False),
        "--trace": ("nasa", False, False),
        "--policy": ("threshold", False, False),
        "--hours": (24.0, False, False),
        "--seed": (0, False, False),
        "--json": (False, False, False),
    },
    "export": {"--checkpoint": (None, True, False), "--out": (Path("model.onnx"), False, False)},
    "loadgen": {
        "--trace": (None, True, False),
        "--url": (None, True, False),
        "--speedup": (1.0, False, False),
        "--duration": (None, False, False),
        "--max-rps": (None, False, False),
        "--rate-scale": (1.0, False, False),
        "--offset": (0.0, False, False),
        "--arrivals": ("poisson", False, False),
        "--seed": (0, False, False),
        "--max-inflight": (1000, False, False),
        "--timeout": (10.0, False, False),
        "--output -o": (None, False, False),
        "--json": (False, False, False),
    },
    "calibrate": {
        "--prometheus": (None, True, False),
        "--namespace": (None, True, False),
        "--deployment": (None, True, False),
        "--out": (None, True, False),
        "--since": ("30m", False, False),
        "--step": ("5s", False, False),
        "--window": ("1m", False, False),
        "--base": ("web", False, False),
        "--cpu-limit-cores": (None, False, False),
        "--timeout": (10.0, False, False),
        "--report": (None, False, False),
    },
}


def _commands() -> dict[str, Any]:
    return typer.main.get_command(rlscale_app).commands  # type: ignore[attr-defined,no-any-return]


def _params(command: str) -> dict[str, tuple[Any, bool, bool]]:
    return {
        " ".join([*p.opts, *p.secondary_opts]): (p.default, p.required, bool(getattr(p, "multiple", False)))
        for p in _commands()[command].params
        if p.name != "help"
    }


@pytest.mark.parametrize("command", sorted(BEFORE))
def test_the_same_flags_defaults_and_repeatable_options(command: str) -> None:
    assert _params(command) == BEFORE[command]
    help_text = CliRunner().invoke(rlscale_app, [command, "--help"], terminal_width=200).output
    for flags in BEFORE[command]:
        assert flags.split()[0] in help_text


def test_every_command_is_generated_and_documented() -> None:
    """No command declares an option by hand: each one's options are exactly the settings of the
    configurations docs/flags.md documents it with."""
    documented = {name.removeprefix("rlscale "): classes for name, classes in flag_docs.COMMANDS.items()}
    assert set(documented) == set(_commands())
    for command, classes in documented.items():
        flags = {" ".join(f.setting.flags) for cls in classes for f in settings_of(cls) if f.setting.flags}
        params = {
            " ".join([*p.opts, *p.secondary_opts]) for p in _commands()[command].params if p.name != "help"
        }
        assert params == {f.replace("/", " ") for f in flags}, command


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (
            ["evaluate", "--seeds", "0", "--windows", "0", "--warmup-hours", "nan"],
            ["--seeds", "--windows", "--warmup-hours"],
        ),
        (
            ["evaluate", "--chunk-hours", "2", "--windows", "2", "--ray-cpus", "2"],
            ["--chunk-hours", "--ray-cpus"],
        ),
        (
            ["evaluate", "--service", "pools", "--column", "rps", "--slo-budget", "0.01"],
            ["--column", "--slo-budget"],
        ),
        (["simulate", "--hours", "nan", "--seed", "-1"], ["--hours", "--seed"]),
        (["simulate", "--hours", "0.001"], ["--hours"]),
        (["export", "--checkpoint", "{tmp}", "--out", "{tmp}"], ["--out"]),
        (
            ["loadgen", "--trace", "nasa", "--url", "notaurl", "--speedup", "0", "--timeout", "0"],
            ["--url", "--speedup", "--timeout"],
        ),
        (["loadgen", "--trace", "nasa", "--url", "http://127.0.0.1:9", "--seed", "-1"], ["--seed"]),
        # the report's destination is checked before any request is sent
        (["loadgen", "--trace", "nasa", "--url", "http://127.0.0.1:9", "--output", "{tmp}"], ["--output"]),
        (
            [
                *("calibrate", "--prometheus", "x", "--namespace", "d", "--deployment", "w"),
                *("--out", "{tmp}", "--since", "0", "--cpu-limit-cores", "-1"),
            ],
            ["--prometheus", "--out", "--since", "--cpu-limit-cores"],
        ),
    ],
)
def test_a_bad_value_exits_2_naming_every_flag(tmp_path: Path, args: list[str], flags: list[str]) -> None:
    out = tmp_path / "out"
    filled = [a.format(tmp=tmp_path) for a in args]
    if filled[0] == "evaluate":
        filled += ["--out", str(out)]
    result = CliRunner().invoke(rlscale_app, filled)
    assert result.exit_code == 2, result.output
    for flag in flags:
        assert flag in result.output, (flag, result.output)
    assert "Traceback" not in result.output and not out.exists()


def _captured(*config_classes: type, args: list[str]) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []
    app = typer.Typer()
    app.command("cmd")(config_command(*config_classes, action=lambda *c: seen.append(c)))
    app.command("_other")(lambda: None)  # a second command keeps typer in multi-command mode
    result = CliRunner().invoke(app, ["cmd", *args])
    assert result.exit_code == 0, result.output
    return seen[-1]


def test_no_flags_give_the_configurations_defaults() -> None:
    from rlscale.cli.evaluate import EvaluateLaunch
    from rlscale.cli.simulate import SimulateConfig

    config, launch = _captured(EvaluateConfig, EvaluateLaunch, args=[])
    assert config == EvaluateConfig() and launch == EvaluateLaunch()
    assert (config.traces, config.policies, config.slo_budgets, config.seeds) == ([], [], [], 5)
    assert _captured(SimulateConfig, args=[]) == (SimulateConfig(),)


def test_the_evaluate_defaults_that_are_written_out_agree() -> None:
    """EvaluateConfig spells out the oracle's default so that --help does not import the
    simulator; the default service is core's, and it must be a preset the simulator has."""
    from rlscale.core.spec import DEFAULT_SERVICE
    from rlscale.evaluation.runner import ORACLE_STEP_VIOLATION
    from rlscale.sim.presets import PRESETS

    assert EvaluateConfig().service == DEFAULT_SERVICE and DEFAULT_SERVICE in PRESETS
    assert EvaluateConfig().oracle_step_violation == ORACLE_STEP_VIOLATION


def test_the_recorded_command_reproduces_the_configuration() -> None:
    from rlscale.cli.evaluate import EvaluateLaunch

    config = EvaluateConfig(
        traces=["nasa", "synthetic:spike?steps=60"],
        policies=["hpa:target=60", "keda"],
        seeds=2,
        windows=2,
        window_hours=1.5,
        warmup_hours=0.25,
        slo_budgets=[0.01, 0.005],
        ray="local",
        ray_cpus=2,
        out=Path("some dir/rep"),
    )
    args = shlex.split(canonical_command(config))
    assert args[:2] == ["rlscale", "evaluate"]
    assert _captured(EvaluateConfig, EvaluateLaunch, args=args[2:])[0] == config
    assert (
        canonical_command(EvaluateConfig())
        == "rlscale evaluate --service web --seeds 5 --out reports/evaluate"
    )


def test_command_args_of_pairs_and_text_settings() -> None:
    from rlscale.agents.train_config import TrainConfig

    config = dataclasses.replace(
        TrainConfig(traces=[]), resume=True, budget_feedback=False, net_arch=[32, 16], learning_rate=1e-4
    )
    assert command_args(config) == [
        "--resume",
        "--no-budget-feedback",
        "--net-arch",
        "32,16",
        "--learning-rate",
        "0.0001",
    ]
