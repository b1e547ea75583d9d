"""``rlscale run`` flag handling: bad flags are rejected with a message naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rlscale.cli import run as run_cli
from rlscale.controller.app import RunConfig

BASE = [
    "--namespace",
    "shop",
    "--deployment",
    "web",
    "--prometheus",
    "http://127.0.0.1:9",
    "--min",
    "1",
    "--max",
    "5",
]


def _app() -> typer.Typer:
    app = typer.Typer()
    run_cli.register(app)

    @app.command()
    def _other() -> None:  # a second command keeps typer in multi-command mode
        return None

    return app


def _invoke(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), ["run", *args], env=env)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--min", "6"], "--min (6) must be <= --max (5)"),
        (
            ["--prometheus", "prometheus:9090"],
            "--prometheus URL 'prometheus:9090': scheme must be http or https",
        ),
        (["--namespace", "Bad_NS"], "--namespace 'Bad_NS' is not a valid namespace name"),
        (["--interval", "0"], "--interval must be a positive number"),
        (["--server", "ftp://x"], "--server URL"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig '/nonexistent/kubeconfig': no such file"),
        (["--require-signals", "cpu"], "--require-signals: unknown ['cpu']"),
        (["--max-step-down-percent", "150"], "--max-step-down-percent must be <= 100"),
    ],
)
def test_bad_flags_exit_2_with_a_message_naming_the_flag(override: list[str], message: str) -> None:
    code, output = _invoke(BASE + override)
    assert code == 2
    assert message in output


def test_environment_variables_configure_the_target() -> None:
    env = {
        "RLSCALE_NAMESPACE": "shop",
        "RLSCALE_DEPLOYMENT": "web",
        "RLSCALE_PROMETHEUS": "http://127.0.0.1:9",
        "RLSCALE_MIN": "4",
        "RLSCALE_MAX": "2",
    }
    code, output = _invoke([], env=env)
    assert code == 2 and "--min (4) must be <= --max (2)" in output


def test_unknown_policy_is_rejected() -> None:
    pytest.importorskip("rlscale.policies", reason="policies package")
    from rlscale import policies

    if not hasattr(policies, "parse_policy_spec"):
        pytest.skip("rlscale.policies.parse_policy_spec not written yet")
    code, output = _invoke([*BASE, "--policy", "no-such-policy", "--kubeconfig", "in-cluster"])
    assert code == 2 and "--policy 'no-such-policy'" in output


def test_run_config_collects_every_problem(tmp_path: Path) -> None:
    config = RunConfig(
        namespace="shop",
        deployment="web",
        prometheus_url="http://p:9090",
        min_replicas=3,
        max_replicas=1,
        slo_latency_s=-1,
        log_file=str(tmp_path / "missing" / "log.jsonl"),
    )
    with pytest.raises(ValueError) as info:
        config.validate()
    text = str(info.value)
    assert "--min (3) must be <= --max (1)" in text and "--slo" in text and "--log-file" in text
    ok = RunConfig(
        namespace="shop", deployment="web", prometheus_url="http://p:9090", min_replicas=1, max_replicas=3
    )
    assert ok.validate() is ok
    assert ok.service_spec().max_replicas == 3


def test_metric_query_flags(tmp_path: Path) -> None:
    bad = tmp_path / "q.json"
    bad.write_text('{"request_rate_rps": "sum(rate(x[$window])"}')
    code, output = _invoke([*BASE, "--metric-queries", str(bad)])
    assert code == 2 and "unbalanced brackets" in output
    code, output = _invoke([*BASE, "--metric-window", "five"])
    assert code == 2 and "not a Prometheus duration" in output
    broken = tmp_path / "broken.json"
    broken.write_text("{\n nope")
    code, output = _invoke([*BASE, "--metric-queries", str(broken)])
    assert code == 2 and "broken.json:2: not JSON" in output
