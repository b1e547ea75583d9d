"""ScaleActuator through the official client against the emulator: conflict and 5xx retries,
giving up, dry run, and never a write outside [min, max]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kubernetes import client, config

from rlscale.controller.actuator import ActuatorError, OutOfBoundsError, ScaleActuator, apps_api


def _actuator(kubeconfig: Path, sleeps: list[float], **kw: Any) -> ScaleActuator:
    kw.setdefault("min_replicas", 1)
    kw.setdefault("max_replicas", 6)
    return ScaleActuator.from_config(kubeconfig, sleep=sleeps.append, **kw)


def test_reads_and_writes_scale(emulator: Any, kubeconfig: Path) -> None:
    sleeps: list[float] = []
    act = _actuator(kubeconfig, sleeps)
    before = act.get_replicas("default", "web")
    result = act.set_replicas("default", "web", 3)
    assert result.written and result.previous_replicas == before and result.replicas == 3
    assert emulator.get_deployment("web")["spec"]["replicas"] == 3
    again = act.set_replicas("default", "web", np.int64(3))
    assert not again.written and again.replicas == 3  # nothing to do, nothing written
    act.set_replicas("default", "web", 2)
    assert sleeps == []


def test_conflicts_are_reread_and_reapplied(emulator: Any, kubeconfig: Path) -> None:
    other = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    real = apps_api(kubeconfig)

    class Racing:
        """Another writer changes the scale between our read and our patch, twice."""

        races = 2

        def read_namespaced_deployment_scale(self, *a: Any, **kw: Any) -> Any:
            scale = real.read_namespaced_deployment_scale(*a, **kw)
            if self.races:
                self.races -= 1
                other.patch_namespaced_deployment_scale(
                    "web", "default", {"spec": {"replicas": 4 + self.races}}
                )
            return scale

        def patch_namespaced_deployment_scale(self, *a: Any, **kw: Any) -> Any:
            return real.patch_namespaced_deployment_scale(*a, **kw)

    act = ScaleActuator(Racing(), min_replicas=1, max_replicas=6, sleep=lambda s: None)
    result = act.set_replicas("default", "web", 3)
    assert result.written and result.conflicts == 2 and result.attempts == 3
    assert emulator.get_deployment("web")["spec"]["replicas"] == 3  # ours won, after re-reading
    act.set_replicas("default", "web", 2)


def test_injected_409_and_500_are_retried_with_backoff(emulator: Any, kubeconfig: Path) -> None:
    sleeps: list[float] = []
    act = _actuator(kubeconfig, sleeps, base_backoff_s=0.1, max_backoff_s=0.3)
    emulator.faults.add(r"/deployments/web/scale$", status=409, count=2, method="PATCH")
    emulator.faults.add(r"/deployments/web/scale$", status=500, count=1, method="PATCH")
    result = act.set_replicas("default", "web", 4)
    assert result.written and result.attempts == 4 and result.conflicts == 2
    assert emulator.get_deployment("web")["spec"]["replicas"] == 4
    assert sleeps == [0.0, 0.0, pytest.approx(0.3)]  # conflicts re-read at once; 5xx backs off (capped)
    sleeps.clear()
    emulator.faults.add(r"/deployments/web/scale$", status=503, count=3, method="GET")
    assert act.get_replicas("default", "web") == 4
    assert sleeps == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]  # capped at max_backoff_s
    act.set_replicas("default", "web", 2)


def test_gives_up_after_max_attempts(emulator: Any, kubeconfig: Path) -> None:
    sleeps: list[float] = []
    act = _actuator(kubeconfig, sleeps, max_attempts=3)
    emulator.faults.add(r"/deployments/web/scale$", status=500, count=None, method="PATCH")
    try:
        with pytest.raises(ActuatorError, match="after 3 attempts") as info:
            act.set_replicas("default", "web", 5)
        assert info.value.status == 500 and info.value.attempts == 3
        assert len(sleeps) == 2
    finally:
        emulator.faults.clear()
    assert emulator.get_deployment("web")["spec"]["replicas"] == 2
    # a timeout is not retried within the decision (the next period is the retry): a hung
    # API server costs one request timeout per call, not max_attempts of them
    emulator.faults.add(r"/deployments/web/scale$", status=None, delay_s=1.0, count=None, method="GET")
    try:
        fast = _actuator(kubeconfig, sleeps, max_attempts=2, request_timeout_s=0.2)
        with pytest.raises(ActuatorError, match="failed: ReadTimeoutError") as info:
            fast.get_replicas("default", "web")
        assert info.value.attempts == 1
    finally:
        emulator.faults.clear()


def test_non_retryable_errors_fail_at_once(emulator: Any, kubeconfig: Path) -> None:
    sleeps: list[float] = []
    act = _actuator(kubeconfig, sleeps)
    with pytest.raises(ActuatorError) as info:
        act.set_replicas("default", "missing", 3)
    assert info.value.status == 404 and info.value.attempts == 1 and sleeps == []


def test_never_writes_outside_bounds(emulator: Any, kubeconfig: Path) -> None:
    act = _actuator(kubeconfig, [], min_replicas=2, max_replicas=5)
    before = emulator.api.request_count
    for bad in (1, 6, -1, 100):
        with pytest.raises(OutOfBoundsError, match=r"outside \[2, 5\]"):
            act.set_replicas("default", "web", bad)
    with pytest.raises(OutOfBoundsError, match="integer"):
        act.set_replicas("default", "web", 2.5)  # type: ignore[arg-type]
    assert emulator.api.request_count == before  # refused before any request
    with pytest.raises(ValueError, match="min_replicas"):
        ScaleActuator(None, min_replicas=5, max_replicas=2)


def test_dry_run_reads_but_never_writes(emulator: Any, kubeconfig: Path) -> None:
    act = _actuator(kubeconfig, [], dry_run=True)
    rv_before = emulator.get_deployment("web")["metadata"]["resourceVersion"]
    spec_before = emulator.get_deployment("web")["spec"]["replicas"]
    result = act.set_replicas("default", "web", 5)
    assert result.dry_run and not result.written and result.replicas == spec_before
    assert emulator.get_deployment("web")["spec"]["replicas"] == spec_before
    assert int(emulator.get_deployment("web")["metadata"]["resourceVersion"]) >= int(rv_before)


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="kubeconfig"):
        ScaleActuator.from_config(tmp_path / "nope", min_replicas=1, max_replicas=2)
