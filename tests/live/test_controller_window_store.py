"""``rlscale run --window-configmap``: a controller killed and restarted during a falling load
continues the downscale window from a ConfigMap (on the emulated cluster), so it scales down
when a controller that was never restarted does, not a whole window later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_controller_loop import FakeActuator, FakePolicy, FakeSource

from rlscale.controller.app import RunConfig, build_controller
from rlscale.core import ManualClock

PERIOD_S = 15.0
WINDOW_S = 60.0


def _config(kubeconfig: Path | None, window_configmap: str | None) -> RunConfig:
    return RunConfig(
        namespace="default",
        deployment="web",
        prometheus_url="http://127.0.0.1:9",
        min_replicas=1,
        max_replicas=10,
        interval_s=PERIOD_S,
        kubeconfig=None if kubeconfig is None else str(kubeconfig),
        stabilization_window_s=WINDOW_S,
        max_step_up_pods=None,
        max_step_up_percent=None,
        window_configmap=window_configmap,
        log_file=None,
    )


def _first_scale_down(decide: Any, proposals: list[int], clock: ManualClock) -> float:
    for proposal in proposals:
        decision = decide(proposal)
        if decision.final_replicas < decision.current_replicas:
            return clock.now()
        clock.sleep(PERIOD_S)
    raise AssertionError("never scaled down")


def _controller(config: RunConfig, clock: ManualClock, actuator: Any = None) -> Any:
    controller = build_controller(config, clock=clock, source=FakeSource(), actuator=actuator)
    controller.fallback = None
    return controller


def _decide(controller: Any, proposal: int) -> Any:
    controller.policy = FakePolicy(proposal)
    return controller.reconcile_once()


PROPOSALS = [8, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]  # the load falls after the first period


def test_a_restarted_run_continues_the_window_from_its_configmap(
    emulator_factory: Any, tmp_path: Path
) -> None:
    # the reference: never restarted (in memory, a fake cluster)
    clock = ManualClock()
    steady = _controller(_config(None, None), clock, FakeActuator(replicas=8))
    steady_down = _first_scale_down(lambda p: _decide(steady, p), PROPOSALS, clock)

    emu = emulator_factory(auto_step=False)
    kubeconfig = emu.write_kubeconfig(tmp_path / "kubeconfig")
    from kubernetes import client, config

    apps = client.AppsV1Api(config.new_client_from_config(str(kubeconfig)))
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 8}})
    clock = ManualClock()
    first = _controller(_config(kubeconfig, "web-window"), clock)
    for proposal in PROPOSALS[:3]:  # decides at 0, 15, 30 s, then is killed
        assert _decide(first, proposal).final_replicas == 8
        clock.sleep(PERIOD_S)
    saved = client.CoreV1Api(apps.api_client).read_namespaced_config_map("web-window", "default")
    assert '"replicas": 8' in saved.data["recommendations"] and saved.data["target"] == "default/web"

    second = _controller(_config(kubeconfig, "web-window"), clock)
    second.restore_recommendations(second.window_store.load())  # as rlscale run does at start
    restarted_down = _first_scale_down(lambda p: _decide(second, p), PROPOSALS[3:], clock)
    assert abs(restarted_down - steady_down) <= PERIOD_S, (restarted_down, steady_down)

    # without the ConfigMap the restart re-seeds the window with 8 and holds them a window longer
    clock = ManualClock(start_s=30.0 + PERIOD_S)
    cold = _controller(_config(kubeconfig, None), clock)
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 8}})
    cold_down = _first_scale_down(lambda p: _decide(cold, p), PROPOSALS[3:] + [3] * 4, clock)
    assert cold_down - restarted_down >= WINDOW_S - PERIOD_S
