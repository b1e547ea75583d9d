"""The real kubectl against ``rlscale emulate``: TLS with the run's CA and a bearer token,
server-side tables, scale, ``apply`` of the shipped CRD and example with validation on,
the CRD's printer columns, ``explain`` from OpenAPI v3, and invalid custom resources refused
with the field named, as a real API server refuses them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"


@pytest.fixture(scope="module")
def kubectl_path() -> str:
    path = KUBECTL if os.path.exists(KUBECTL) else shutil.which("kubectl")
    if path is None:
        message = "kubectl is not installed (expected /usr/bin/kubectl, part of the machine image)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def emulate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``rlscale emulate`` in a subprocess; yields its kubeconfig once it is written."""
    tmp = tmp_path_factory.mktemp("emulate")
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlscale.cli.main",
            "emulate",
            "--load-rps",
            "20",
            "--replicas",
            "2",
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"rlscale emulate did not start: {proc.communicate()[0]}")
        time.sleep(0.1)
    try:
        yield kubeconfig
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def kubectl(path: str, kubeconfig: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run kubectl with its own discovery cache (so a CRD created in one call is seen by the next)."""
    result = subprocess.run(
        [path, f"--kubeconfig={kubeconfig}", f"--cache-dir={kubeconfig.parent / 'cache'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
    return result


def header(output: str) -> list[str]:
    return output.splitlines()[0].split()


def rows(output: str) -> list[dict[str, str]]:
    """kubectl's table as dicts, cut at the header's column starts (empty cells stay empty)."""
    lines = output.splitlines()
    names = header(output)
    starts = [
        lines[0].index(f"{n} ") if i < len(names) - 1 else lines[0].rindex(n) for i, n in enumerate(names)
    ]
    ends = [*starts[1:], None]
    return [{n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)} for line in lines[1:]]


def test_kubectl_gets_and_scales_over_tls(kubectl_path: str, emulate: Path) -> None:
    got = kubectl(kubectl_path, emulate, "get", "deployments,pods").stdout
    blocks = got.strip().split("\n\n")
    assert header(blocks[0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert blocks[0].splitlines()[1].split()[:2] == ["deployment.apps/web", "2/2"]
    assert header(blocks[1]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    pods = [line.split() for line in blocks[1].splitlines()[1:]]
    assert len(pods) == 2 and all(p[1] == "1/1" and p[2] == "Running" for p in pods)

    watch = subprocess.Popen(
        [
            kubectl_path,
            f"--kubeconfig={emulate}",
            f"--cache-dir={emulate.parent / 'cache'}",
            *("get", "pods", "-w", "--request-timeout=6s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(2.0)  # the watch is open
    assert "scaled" in kubectl(kubectl_path, emulate, "scale", "deployment/web", "--replicas=4").stdout
    replicas = kubectl(kubectl_path, emulate, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "4"
    watched = watch.communicate(timeout=30)[0].splitlines()
    new_rows = [line.split() for line in watched[3:]]  # after the header and the two pods listed
    assert new_rows and all(len(row) == 5 for row in new_rows), watched  # table rows, also for events
    assert {row[2] for row in new_rows} & {"ContainerCreating", "Running"}, watched


def test_kubectl_applies_the_crd_and_example_with_validation(kubectl_path: str, emulate: Path) -> None:
    before = kubectl(kubectl_path, emulate, "api-resources").stdout
    assert "rlautoscalers" not in before  # served only once the CRD exists
    kubectl(kubectl_path, emulate, "apply", "--validate=strict", "-f", str(ROOT / "deploy/namespace.yaml"))
    kubectl(kubectl_path, emulate, "apply", "--validate=strict", "-f", str(ROOT / "deploy/crd.yaml"))
    kubectl(kubectl_path, emulate, "wait", "--for=condition=Established", "crd/rlautoscalers.rlscale.io")
    created = kubectl(
        kubectl_path,
        emulate,
        "apply",
        "--validate=strict",
        "-f",
        str(ROOT / "deploy/example-rlautoscaler.yaml"),
    )
    assert "rlautoscaler.rlscale.io/sample-service created" in created.stdout

    table = kubectl(kubectl_path, emulate, "get", "rla", "-n", "rlscale").stdout
    assert header(table) == [
        "NAME",
        "TARGET",
        "SLO",
        "BUDGET",
        "MIN",
        "MAX",
        "CURRENT",
        "DESIRED",
        "POLICY",
        "ACTIVE",
        "AGE",
    ]
    (row,) = rows(table)
    assert row["NAME"] == row["TARGET"] == "sample-service" and row["POLICY"] == "hpa"
    assert (row["SLO"], row["BUDGET"], row["MIN"], row["MAX"]) == (
        "0.25",
        "0.01",
        "1",
        "10",
    )  # budget defaulted
    assert row["CURRENT"] == row["DESIRED"] == ""  # no operator runs here: no status yet
    wide = kubectl(kubectl_path, emulate, "get", "rla", "-n", "rlscale", "-o", "wide").stdout
    assert "LAST DECISION" in wide.splitlines()[0]

    explained = kubectl(kubectl_path, emulate, "explain", "rlautoscaler.spec.slo").stdout
    assert "latencySeconds" in explained and "budget" in explained and "Error budget" in explained


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("maxReplicas: 10", "maxReplicas: 10\n  minReplica: 2"), 'unknown field "spec.minReplica"'),
        (
            ("minReplicas: 1", "minReplicas: 50"),
            'spec: Invalid value: "object": minReplicas must be less than or equal to maxReplicas',
        ),
        (("name: bad\n  namespace", "name: Web_1\n  namespace"), 'metadata.name: Invalid value: "Web_1"'),
        (
            ("latencySeconds: 0.25", "latencySeconds: 0.25\n    budget: 1.5"),
            "spec.slo.budget: Invalid value: 1.5",
        ),
        (("namespace: rlscale", "namespace: nosuch"), 'namespaces "nosuch" not found'),
    ],
)
def test_kubectl_apply_refuses_an_invalid_custom_resource(
    kubectl_path: str, emulate: Path, change: tuple[str, str], named: str
) -> None:
    kubectl(kubectl_path, emulate, "apply", "-f", str(ROOT / "deploy/namespace.yaml"))
    kubectl(kubectl_path, emulate, "apply", "-f", str(ROOT / "deploy/crd.yaml"))
    example = (ROOT / "deploy/example-rlautoscaler.yaml").read_text()
    text = example.replace("name: sample-service\n  namespace", "name: bad\n  namespace")
    assert change[0] in text
    bad = emulate.parent / "bad.yaml"
    bad.write_text(text.replace(change[0], change[1]))
    result = kubectl(kubectl_path, emulate, "apply", "-f", str(bad), ok=False)
    assert result.returncode != 0 and named in result.stderr, result.stderr
