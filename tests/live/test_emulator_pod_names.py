"""Emulator pod names (issue 14, case 7): generated names are drawn again on a collision, so
a large scale is applied whole, answered 200, and the Deployment's status matches its pods."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rlscale.emulator import EmulatedService, constant_load
from rlscale.emulator import resources as res
from rlscale.emulator.cluster import NAME_ALPHABET
from rlscale.emulator.services import fast_params

pytest.importorskip("kubernetes")


def test_a_scale_to_3000_is_applied_whole_with_unique_pod_names(emulator_factory: Any, tmp_path: Any) -> None:
    from kubernetes import client, config

    service = EmulatedService(
        name="web", params=fast_params("web"), load=constant_load(5.0), initial_replicas=1
    )
    emu = emulator_factory([service], auto_step=False)
    apps = client.AppsV1Api(
        config.new_client_from_config(config_file=str(emu.write_kubeconfig(tmp_path / "k")))
    )
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3000}})
    assert scale.spec.replicas == 3000  # 200, not a 409 after the write
    pods = emu.call(lambda: emu.store.list(res.PODS, "default"))
    names = [p["metadata"]["name"] for p in pods]
    assert len(names) == len(set(names)) == 3000
    suffix = re.compile(rf"^web-[0-9a-f]{{10}}-[{NAME_ALPHABET}]{{5}}$")
    assert all(suffix.match(n) for n in names)
    emu.step()
    status = emu.get_deployment("web")["status"]
    assert status["replicas"] == 3000


@pytest.mark.parametrize("replicas", [-1, 2**31])
def test_a_scale_outside_int32_is_refused_and_not_applied(
    emulator_factory: Any, tmp_path: Any, replicas: int
) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    service = EmulatedService(
        name="web", params=fast_params("web"), load=constant_load(5.0), initial_replicas=2
    )
    emu = emulator_factory([service], auto_step=False)
    apps = client.AppsV1Api(
        config.new_client_from_config(config_file=str(emu.write_kubeconfig(tmp_path / "k")))
    )
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": replicas}})
    assert info.value.status == 422 and "spec.replicas" in info.value.body
    assert emu.get_deployment("web")["spec"]["replicas"] == 2
