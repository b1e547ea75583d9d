"""One definition per configuration: a field of RunConfig is the flag, the environment
variable, the CRD property (with its default), the CR-named error and the docs row."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rlscale.cli import flag_docs
from rlscale.cli._config_command import config_command
from rlscale.cli.main import app as rlscale_app
from rlscale.controller import crd
from rlscale.controller.operator_config import OperatorConfig
from rlscale.controller.run_config import RunConfig
from rlscale.core.settings import ConfigError, setting

ROOT = Path(__file__).resolve().parents[2]
TARGET = [
    "--namespace",
    "shop",
    "--deployment",
    "web",
    "--prometheus",
    "http://p:9090",
    "--min",
    "1",
    "--max",
    "5",
]
CR = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}


@dataclass(frozen=True)
class WithWarmup(RunConfig):
    """RunConfig plus one new setting, declared in one place."""

    warmup_s: float = setting(
        30.0,
        flags=("--warmup",),
        env="RLSCALE_WARMUP",
        cr_path="behavior.warmupSeconds",
        cr_schema={"minimum": 0},
        unit="s",
        help="Hold decisions this long after start.",
    )


def _cli(config_cls: type, seen: list[Any]) -> typer.Typer:
    app = typer.Typer()
    app.command(name="run")(config_command(config_cls, action=seen.append))

    @app.command()
    def _other() -> None:  # a second command keeps typer in multi-command mode
        return None

    return app


def test_a_new_field_is_a_flag_a_crd_property_and_a_docs_row() -> None:
    seen: list[Any] = []
    app = _cli(WithWarmup, seen)
    help_text = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    assert "--warmup" in help_text and "RLSCALE_WARMUP" in help_text
    assert CliRunner().invoke(app, ["run", *TARGET, "--warmup", "12"]).exit_code == 0
    assert seen[-1].warmup_s == 12.0 and seen[-1].deployment == "web"
    assert CliRunner().invoke(app, ["run", *TARGET], env={"RLSCALE_WARMUP": "7"}).exit_code == 0
    assert seen[-1].warmup_s == 7.0
    assert CliRunner().invoke(app, ["run", *TARGET]).exit_code == 0 and seen[-1].warmup_s == 30.0

    schema = crd.spec_schema(WithWarmup)["properties"]["behavior"]["properties"]["warmupSeconds"]
    assert schema == {
        "type": "number",
        "minimum": 0,
        "default": 30.0,
        "description": "Hold decisions this long after start. Unit: s.",
    }
    assert "warmupSeconds" not in crd.spec_schema()["properties"]["behavior"]["properties"]
    cr = {**CR, "slo": {"latencySeconds": 0.2}, "behavior": {"warmupSeconds": 5}}
    assert crd.RLAutoscalerSpec.from_spec(cr, config_cls=WithWarmup).settings["warmup_s"] == 5.0
    defaulted = crd.RLAutoscalerSpec.from_spec({**CR, "slo": {"latencySeconds": 0.2}}, config_cls=WithWarmup)
    assert defaulted.settings["warmup_s"] == 30.0
    bad = {**cr, "behavior": {"warmupSeconds": -1}}
    assert any("spec.behavior.warmupSeconds" in p for p in crd.validate_spec(bad, WithWarmup))

    row = "| `--warmup` | `RLSCALE_WARMUP` | `spec.behavior.warmupSeconds` | `30.0` | s | Hold decisions"
    assert row in flag_docs.render({"rlscale run": (WithWarmup,)})
    assert row not in flag_docs.render()


def test_one_check_names_the_flag_or_the_cr_field() -> None:
    bad = RunConfig(
        namespace="shop",
        deployment="web",
        prometheus_url="http://p:9090",
        min_replicas=4,
        max_replicas=2,
        slo_budget=1.5,
        policy="hpa:target=abc",
    )
    with pytest.raises(ConfigError) as info:
        bad.validate()
    flag_text, cr_text = str(info.value), "; ".join(info.value.render("cr"))
    assert "--min (4) must be <= --max (2)" in flag_text and "--slo-budget must be a fraction" in flag_text
    assert "spec.minReplicas (4) must be <= spec.maxReplicas (2)" in cr_text
    assert "spec.slo.budget must be a fraction" in cr_text and "spec.policy 'hpa:target=abc'" in cr_text
    assert "--" not in cr_text


def test_a_cr_policy_is_parsed_by_the_registry_grammar() -> None:
    """The CRD's pattern is only a coarse first check; the registry's parser judges a CR's policy."""
    from rlscale.controller.operator import run_config_for
    from rlscale.policies import parse_policy_spec

    cr = {**CR, "slo": {"latencySeconds": 0.2}, "policy": "hpa:nosuch=1"}
    assert crd.validate_spec(cr) == []  # passes the schema's pattern...
    with pytest.raises(ValueError) as parser:
        parse_policy_spec("hpa:nosuch=1")
    with pytest.raises(crd.SpecError) as info:  # ...and is refused by the registry, naming the field
        run_config_for(
            crd.RLAutoscalerSpec.from_spec(cr), "shop", OperatorConfig(prometheus_url="http://p:9090")
        )
    assert info.value.problems == [f"spec.policy 'hpa:nosuch=1': {parser.value}"]


def _options(command: str) -> tuple[set[str], set[str]]:
    click_cmd = typer.main.get_command(rlscale_app).commands[command]  # type: ignore[attr-defined]
    names = {o for p in click_cmd.params for o in (*p.opts, *p.secondary_opts)}
    envs = {p.envvar for p in click_cmd.params if p.envvar}
    return names, envs


# Every flag and variable the commands took before their options were generated (none may go).
RUN_FLAGS = (
    "--namespace --deployment --prometheus --policy --min --max --interval --dry-run --apply --kubeconfig "
    "--metrics-port --metrics-addr --log-file --server --server-token --pod-capacity-rps --startup-delay "
    "--startup-delay-seconds --slo-latency --slo --slo-budget --stabilization-window --max-step-up-pods "
    "--max-step-up-percent --max-step-down-pods --max-step-down-percent --max-step-period --no-fallback "
    "--fallback-policy --require-signals --prometheus-timeout --metric-queries --metric-window --staleness "
    "--window-configmap --api-timeout --max-decisions"
).split()
RUN_ENVS = (
    "NAMESPACE DEPLOYMENT PROMETHEUS POLICY MIN MAX INTERVAL DRY_RUN KUBECONFIG METRICS_PORT METRICS_ADDR "
    "LOG_FILE SERVER SERVER_TOKEN POD_CAPACITY_RPS STARTUP_DELAY SLO SLO_BUDGET STABILIZATION_WINDOW "
    "MAX_STEP_UP_PODS MAX_STEP_UP_PERCENT MAX_STEP_DOWN_PODS MAX_STEP_DOWN_PERCENT MAX_STEP_PERIOD "
    "FALLBACK_POLICY REQUIRE_SIGNALS PROMETHEUS_TIMEOUT METRIC_QUERIES METRIC_WINDOW STALENESS "
    "WINDOW_CONFIGMAP API_TIMEOUT"
).split()
OPERATOR_FLAGS = (
    "--namespace --kubeconfig --prometheus --identity --lease-name --lease-duration --time-scale --log-file "
    "--metrics-port --metrics-addr --scanning --no-scanning --verbose -v"
).split()
OPERATOR_ENVS = (
    "NAMESPACE KUBECONFIG PROMETHEUS IDENTITY LEASE_NAME LEASE_DURATION TIME_SCALE LOG_FILE METRICS_PORT "
    "METRICS_ADDR SCANNING"
).split()


TRAIN_FLAGS = (
    "--algo --service --trace --timesteps --seed --out --resume --no-resume --action-mode --slo-weight "
    "--num-envs --episode-steps --eval-every --randomize-service --bootstrap --teacher --bc-epochs "
    "--bc-windows --memory-floor --budget-feedback --no-budget-feedback --encoder --forecaster "
    "--learning-rate --clip-range --normalize-reward --no-normalize-reward --progress --no-progress --ray "
    "--ray-seeds --tune --ray-cpus"
).split()
SERVE_FLAGS = (
    "--policy --host --port --token --min --max --pod-capacity-rps --startup-delay --startup-delay-seconds "
    "--slo --slo-latency --slo-budget --update-interval"
).split()
EMULATE_FLAGS = (
    "--service --name --namespace --trace --load-rps --peak-fraction --wave-period --replicas --speedup "
    "--port --metrics-port --kubeconfig --seed"
).split()


@pytest.mark.parametrize(
    ("command", "flags", "envs"),
    [
        ("run", RUN_FLAGS, RUN_ENVS),
        ("operator", OPERATOR_FLAGS, OPERATOR_ENVS),
        ("serve", SERVE_FLAGS, ["POLICY", "SERVE_HOST", "SERVE_PORT", "SERVE_TOKEN"]),
        ("train", TRAIN_FLAGS, []),
        ("emulate", EMULATE_FLAGS, []),
    ],
)
def test_every_earlier_flag_and_variable_still_works(command: str, flags: list[str], envs: list[str]) -> None:
    names, env_vars = _options(command)
    assert set(flags) <= names, set(flags) - names
    assert {f"RLSCALE_{e}" for e in envs} <= env_vars, {f"RLSCALE_{e}" for e in envs} - env_vars


def test_flag_docs_are_current() -> None:
    assert (ROOT / "docs" / "flags.md").read_text(encoding="utf-8") == flag_docs.render(), (
        "docs/flags.md is stale: python -m rlscale.cli.flag_docs docs/flags.md"
    )


def test_every_train_field_is_a_flag() -> None:
    """TrainConfig's fields (n_steps, net_arch, ent_coef... once missing) are all on the command line."""
    from dataclasses import fields

    from rlscale.agents.train_config import TrainConfig
    from rlscale.cli.train import TrainLaunch

    names, _ = _options("train")
    flagged = {f.name for f in fields(TrainConfig) if "setting" in f.metadata}
    assert flagged == {f.name for f in fields(TrainConfig)} - {"command"}
    assert {
        "--n-steps",
        "--net-arch",
        "--ent-coef",
        "--window-steps",
        "--no-budget-feedback",
        "--ray",
    } <= names

    seen: list[Any] = []
    app = typer.Typer()
    app.command(name="train")(config_command(TrainConfig, TrainLaunch, action=lambda *c: seen.append(c)))
    app.command(name="_other")(lambda: None)
    args = ["--net-arch", "32,16", "--n-steps", "64", "--ent-coef", "0.01", "--memory-floor", "0"]
    result = CliRunner().invoke(
        app, ["train", *args, "--trace", "nasa", "--trace", "synthetic:spike", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    cfg, launch = seen[-1]
    assert (cfg.net_arch, cfg.n_steps, cfg.ent_coef) == ([32, 16], 64, 0.01)
    assert cfg.memory_floor_utilization is None and cfg.traces == ["nasa", "synthetic:spike"]
    assert launch.progress is False and launch.ray is None
    assert CliRunner().invoke(app, ["train"]).exit_code == 0 and seen[-1][0].traces == TrainConfig().traces
    bad = CliRunner().invoke(app, ["train", "--net-arch", "wide"])
    assert bad.exit_code == 2 and "--net-arch 'wide'" in bad.output
