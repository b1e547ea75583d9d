"""deploy/ray: the KubeRay RayJobs parse, pin the Ray version the image is built on, and their
entrypoints are valid rlscale command lines that join the cluster (--ray auto)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[2]
RAY_DIR = ROOT / "deploy" / "ray"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((RAY_DIR / name).read_text()) if d]


@pytest.mark.parametrize("name", ["rayjob-evaluate.yaml", "rayjob-train.yaml"])
def test_rayjob_entrypoint_is_a_valid_command_on_the_pinned_ray(name: str) -> None:
    from rlscale.cli.main import app

    (job,) = _docs(name)
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    base = re.search(r"FROM rayproject/ray:(\S+?)-py", (RAY_DIR / "Dockerfile").read_text())
    assert base is not None and job["spec"]["rayClusterSpec"]["rayVersion"] == base.group(1)
    args = shlex.split(job["spec"]["entrypoint"])
    assert args[0] == "rlscale" and args[args.index("--ray") + 1] == "auto"
    group = typer.main.get_command(app)
    command = group.commands[args[1]]  # type: ignore[attr-defined]
    command.make_context(args[1], args[2:])  # parses every option, runs nothing
    claims = {d["metadata"]["name"] for d in _docs("storage.yaml")}
    spec = job["spec"]["rayClusterSpec"]
    pods = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
    for pod in pods:
        for volume in pod["spec"].get("volumes", []):
            assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((RAY_DIR / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in RAY_DIR.glob("*.yaml")} - {"kustomization.yaml"}
