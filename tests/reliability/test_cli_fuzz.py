"""Property-based fuzzing of every CLI command (issue 14): generated bad traces, service
files, policy specs and flag values. Each must end in exit status 2 with one error message
that names the problem (the flag, file or field), and never in a traceback or a hang.

Commands run in-process through typer's CliRunner; bad values are refused before any work,
so each case takes milliseconds (simulate's trace and service cases run at most a few
simulated minutes). Seeded via the Hypothesis profile (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.reliability.cli_harness import COUNTS, assert_clear_error, invoke

from rlscale.sim.presets import PRESETS, save_service

NOT_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "abc", "", "1e999", "0x1G", "--"])
NOT_INTEGERS = st.sampled_from(["1.5", "abc", "", "nan", "1e3"])
NEGATIVE = st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False).map(repr)
NEGATIVE_INTS = st.integers(max_value=-1).map(str)


def positive() -> st.SearchStrategy[str]:
    """Values a '> 0' float flag must refuse."""
    return st.one_of(NOT_NUMBERS, NEGATIVE, st.just("0"))


def count(minimum: int) -> st.SearchStrategy[str]:
    """Values an 'integer >= minimum' flag must refuse."""
    return st.one_of(NOT_INTEGERS, st.integers(max_value=minimum - 1).map(str))


#: command -> (the argv it needs besides the fuzzed flag, {flag: (bad values, names any of which the error gives)})
FLAGS: dict[str, tuple[list[str], dict[str, tuple[st.SearchStrategy[str], tuple[str, ...]]]]] = {
    "simulate": (
        ["--hours", "0.05"],
        {
            "--hours": (st.one_of(NOT_NUMBERS, NEGATIVE, st.just("0")), ("--hours",)),
            "--seed": (count(0), ("--seed",)),
        },
    ),
    "evaluate": (
        ["--out", "{tmp}/report"],
        {
            "--seeds": (count(1), ("--seeds",)),
            "--windows": (count(1), ("--windows",)),
            "--window-hours": (positive(), ("--window-hours",)),
        },
    ),
    "train": (
        ["--out", "{tmp}/run"],
        {
            "--timesteps": (count(1), ("--timesteps",)),
            "--num-envs": (count(1), ("--num-envs",)),
            "--eval-every": (st.one_of(NOT_INTEGERS, st.integers(max_value=31).map(str)), ("--eval-every",)),
            "--slo-weight": (st.one_of(NOT_NUMBERS, NEGATIVE), ("--slo-weight",)),
            "--seed": (count(0), ("--seed",)),
        },
    ),
    "serve": (
        [],
        {
            "--port": (
                st.one_of(NOT_INTEGERS, NEGATIVE_INTS, st.integers(65536, 10**9).map(str)),
                ("--port",),
            ),
            "--update-interval": (positive(), ("--update-interval", "update_interval_s")),
            "--pod-capacity-rps": (positive(), ("--pod-capacity-rps", "pod_capacity_rps")),
            "--slo": (positive(), ("--slo", "slo_latency_s")),
            "--max": (st.one_of(NOT_INTEGERS, NEGATIVE_INTS, st.just("0")), ("--max", "max_replicas")),
        },
    ),
    "run": (
        [
            "--namespace",
            "default",
            "--deployment",
            "web",
            "--prometheus",
            "http://127.0.0.1:9",
            "--min",
            "1",
            "--max",
            "5",
        ],
        {
            "--interval": (positive(), ("--interval",)),
            "--api-timeout": (positive(), ("--api-timeout",)),
            "--min": (st.one_of(NOT_INTEGERS, NEGATIVE_INTS), ("--min",)),
            "--staleness": (positive(), ("--staleness",)),
            "--prometheus": (
                st.sampled_from(["notaurl", "ftp://x", "http://", "http://h:99999"]),
                ("--prometheus",),
            ),
        },
    ),
    "operator": (
        [],
        {
            "--lease-duration": (
                st.one_of(NOT_INTEGERS, st.integers(max_value=1).map(str)),
                ("--lease-duration",),
            ),
            "--time-scale": (positive(), ("--time-scale",)),
            "--prometheus": (st.sampled_from(["notaurl", "ftp://x"]), ("--prometheus",)),
        },
    ),
    "emulate": (
        ["--kubeconfig", "{tmp}/kubeconfig"],
        {
            "--speedup": (positive(), ("--speedup",)),
            "--port": (st.one_of(NEGATIVE_INTS, st.integers(65536, 10**9).map(str)), ("--port",)),
            "--replicas": (st.one_of(NOT_INTEGERS, NEGATIVE_INTS), ("--replicas",)),
            "--load-rps": (st.one_of(NOT_NUMBERS, NEGATIVE), ("--load-rps", "rps")),
            "--seed": (count(0), ("--seed",)),
        },
    ),
    "calibrate": (
        [
            "--prometheus",
            "http://127.0.0.1:9",
            "--namespace",
            "d",
            "--deployment",
            "w",
            "--out",
            "{tmp}/p.json",
        ],
        {
            "--since": (st.sampled_from(["abc", "-5m", "", "0", "1x"]), ("--since",)),
            "--cpu-limit-cores": (positive(), ("--cpu-limit-cores",)),
            "--prometheus": (st.sampled_from(["notaurl", "ftp://x", "http://"]), ("--prometheus",)),
        },
    ),
    "export": (
        ["--out", "{tmp}/m.onnx"],
        {"--checkpoint": (st.sampled_from(["{tmp}", "{tmp}/none", "{tmp}/a-file"]), ("--checkpoint",))},
    ),
    "loadgen": (
        ["--trace", "synthetic:spike", "--url", "http://127.0.0.1:9"],
        {
            "--speedup": (positive(), ("--speedup",)),
            "--duration": (positive(), ("--duration",)),
            "--url": (st.sampled_from(["notaurl", "ftp://x", "http://"]), ("--url",)),
            "--seed": (count(0), ("--seed",)),
        },
    ),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "a-file").write_text("not a checkpoint")
    return tmp


@pytest.mark.timeout(300)  # a refused value never starts the work; one that did would hang here
@pytest.mark.parametrize("command", sorted(FLAGS))
@given(data=st.data())
def test_bad_flag_values_are_named(scratch: Path, command: str, data: st.DataObject) -> None:
    base, flags = FLAGS[command]
    flag = data.draw(st.sampled_from(sorted(flags)), label="flag")
    values, names = flags[flag]
    value = data.draw(values, label="value").format(tmp=scratch)
    args = [a.format(tmp=scratch) for a in base]
    if flag in args:  # the fuzzed flag replaces the base's value
        i = args.index(flag)
        del args[i : i + 2]
    outcome = invoke([command, *args, flag, value])
    COUNTS[f"cli.{command}"] += 1
    assert_clear_error(outcome)
    assert any(n.lower() in outcome.error.lower() for n in names), (flag, value, outcome.error)


# --- traces ------------------------------------------------------------------------------------


def _rows(times: list[float], values: list[str]) -> str:
    return "time_s,rps\n" + "".join(f"{t:.0f},{v}\n" for t, v in zip(times, values, strict=True))


@st.composite
def bad_traces(draw: st.DrawFn) -> tuple[str, str]:
    """(CSV text, what the error must mention) for a trace that cannot be used."""
    n = draw(st.integers(3, 40))
    times = [15.0 * i for i in range(n)]
    values = [f"{v:g}" for v in draw(st.lists(st.floats(0.5, 500), min_size=n, max_size=n))]
    kind = draw(
        st.sampled_from(["text", "negative", "nonfinite", "unsorted", "duplicate", "empty", "zeros", "span"])
    )
    i = draw(st.integers(1, n - 1))
    if kind == "text":
        values[i] = draw(st.sampled_from(["abc", "1,2", "--", "0x10"]))
        return _rows(times, values), "line"
    if kind == "negative":
        values[i] = f"{-draw(st.floats(0.001, 1e6)):g}"
        return _rows(times, values), "line"
    if kind == "nonfinite":
        values[i] = draw(st.sampled_from(["nan", "inf", "-inf"]))
        return _rows(times, values), "line"
    if kind == "unsorted":
        times[i], times[i - 1] = times[i - 1], times[i]
        return _rows(times, values), "line"
    if kind == "duplicate":
        times[i] = times[i - 1]
        return _rows(times, values), "line"
    if kind == "empty":
        return draw(st.sampled_from(["", "time_s,rps\n", "\n\n"])), ""
    if kind == "zeros":
        return _rows(times, ["0"] * n), "zero"
    # one row far in the future, on the 15 s grid: more steps than any trace may span
    times[-1] = 15.0 * draw(st.integers(10**7, 10**11))
    return _rows(times, values), "steps"


@given(trace=bad_traces())
def test_bad_traces_are_named(scratch: Path, trace: tuple[str, str]) -> None:
    text, mention = trace
    path = scratch / "trace.csv"
    path.write_text(text)
    outcome = invoke(["simulate", "--trace", str(path), "--hours", "0.05"])
    COUNTS["cli.simulate.trace"] += 1
    assert_clear_error(outcome, "--trace", mention)


# --- service files -----------------------------------------------------------------------------

BAD_SPEC_VALUES = {
    "pod_capacity_rps": [0, -1.0, float("nan"), float("inf"), "fast", None],
    "slo_latency_s": [0, -0.5, float("nan"), float("inf"), "x", None],
    "min_replicas": [2.5, -1, float("nan"), "one", None, 10**6],
    "max_replicas": [0, 2.5, float("inf"), "ten", None],
    "step_s": [0, -15, float("nan"), "15s"],
    "startup_delay_s": [-1, float("nan"), float("inf"), "slow"],
    "cpu_request_cores": [-1, float("nan"), float("inf"), "1 core"],
    "memory_request_gib": [-1, float("nan"), float("inf"), "1Gi"],
    "slo_budget": [0, 1, 1.5, float("nan"), "1%"],
}


@st.composite
def bad_service_files(draw: st.DrawFn) -> tuple[dict[str, object], str]:
    data = json.loads(json.dumps(PRESETS["web"].to_dict(), allow_nan=True))
    field = draw(st.sampled_from(sorted(BAD_SPEC_VALUES)))
    data["spec"][field] = draw(st.sampled_from(BAD_SPEC_VALUES[field]))
    return data, field


@given(case=bad_service_files())
def test_bad_service_files_are_named(scratch: Path, case: tuple[dict[str, object], str]) -> None:
    data, field = case
    path = scratch / "service.json"
    path.write_text(json.dumps(data, allow_nan=True))
    outcome = invoke(["simulate", "--service", str(path), "--hours", "0.05"])
    COUNTS["cli.simulate.service"] += 1
    # a too-high min_replicas is named by the pair it breaks
    assert_clear_error(outcome, "--service")
    assert field in outcome.error or (field == "min_replicas" and "max_replicas" in outcome.error), (
        outcome.error
    )


def test_a_valid_service_file_still_runs(scratch: Path) -> None:
    path = save_service(PRESETS["web"], scratch / "ok.json")
    assert invoke(["simulate", "--service", str(path), "--hours", "0.05"]).exit_code == 0


# --- policy specs ------------------------------------------------------------------------------


@st.composite
def bad_policy_specs(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["name", "param", "value", "shape"]))
    if kind == "name":
        return draw(
            st.from_regex(r"\A[a-z]{3,8}\Z").filter(lambda s: s not in ("hpa", "keda", "kpa", "static"))
        )
    if kind == "param":
        known = ("target", "tolerance", "behavior")
        return "hpa:" + draw(st.from_regex(r"\A[a-z]{4,8}\Z").filter(lambda s: s not in known)) + "=1"
    if kind == "value":
        return draw(
            st.sampled_from(
                [
                    "hpa:target=",
                    "hpa:target=abc",
                    "hpa:target=inf",
                    "hpa:target=nan",
                    "hpa:target=-5",
                    "hpa:target=60.5",
                    "static:replicas=x",
                    "static:replicas=-1",
                    "keda:target=0",
                    "kpa:target=nan",
                    "hpa:behavior=sometimes",
                ]
            )
        )
    return draw(st.sampled_from(["hpa:target", "hpa:=5", "hpa:target=5,target=6", ":", " "]))


@given(spec=bad_policy_specs())
def test_bad_policy_specs_are_named(spec: str) -> None:
    outcome = invoke(["simulate", "--policy", spec, "--hours", "0.05"])
    COUNTS["cli.simulate.policy"] += 1
    assert_clear_error(outcome, "--policy")
