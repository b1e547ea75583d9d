"""The reconcile loop with small fakes: order of operations, fault survival, metrics, logs.
(The end-to-end tests with the emulator and a real Prometheus are in test_controller_e2e.py.)"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from rlscale.controller.decision_log import DecisionLog, read_decision_log
from rlscale.controller.loop import (
    FAILED_GET_METRICS,
    FAILED_GET_SCALE,
    FAILED_RESCALE,
    Controller,
    stale_signals_of,
)
from rlscale.controller.telemetry import ControllerMetrics
from rlscale.core import ManualClock, ScalingSignals, ServiceSpec, observation_size
from rlscale.core.observation import OBSERVATION_FEATURES
from rlscale.safety import FALLBACK_HPA, HOLD_REPLICAS, POLICY_ERROR, STALE_METRICS, Guard, GuardConfig

SPEC = ServiceSpec(name="web", pod_capacity_rps=10.0, slo_latency_s=0.5, min_replicas=1, max_replicas=10)


def _signals(rate: float = 50.0, cpu: float = 0.5, ready: float = 5.0) -> ScalingSignals:
    return ScalingSignals.single(
        time_s=0.0,
        desired_replicas=5.0,
        ready_replicas=ready,
        pending_replicas=0.0,
        request_rate_rps=rate,
        cpu_utilization=cpu,
        latency_p95_s=0.1,
        backlog_requests=0.0,
        dropped_rps=0.0,
    )


@dataclass
class Reading:
    signals: ScalingSignals
    health: dict[str, bool] = field(default_factory=dict)


class FakeSource:
    def __init__(self) -> None:
        self.signals = _signals()
        self.fail: Exception | None = None
        self.health: dict[str, bool] = {}

    def read(self, namespace: str, deployment: str) -> Reading:
        if self.fail is not None:
            raise self.fail
        return Reading(self.signals, dict(self.health))


class FakeActuator:
    def __init__(self, replicas: int = 5) -> None:
        self.replicas = replicas
        self.writes: list[int] = []
        self.fail_get: Exception | None = None
        self.fail_set: Exception | None = None

    def get_replicas(self, namespace: str, name: str) -> int:
        if self.fail_get is not None:
            raise self.fail_get
        return self.replicas

    def set_replicas(self, namespace: str, name: str, replicas: int) -> None:
        if self.fail_set is not None:
            raise self.fail_set
        self.writes.append(replicas)
        self.replicas = replicas


class FakePolicy:
    name = "fake"
    spec = SPEC
    num_envs = 1

    def __init__(self, answer: Any = 7) -> None:
        self.answer = answer
        self.seen: list[ScalingSignals] = []

    def act(self, signals: ScalingSignals) -> np.ndarray:
        self.seen.append(signals)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def reset(self, mask: np.ndarray | None = None) -> None:
        return None


def _controller(
    policy: Any = None, fallback: Any = None, dry_run: bool = False, **kw: Any
) -> tuple[Controller, FakeSource, FakeActuator, io.StringIO]:
    source, actuator, out = FakeSource(), FakeActuator(), io.StringIO()
    controller = Controller(
        namespace="ns",
        deployment="web",
        spec=SPEC,
        source=source,
        policy=policy if policy is not None else FakePolicy(),
        guard=Guard(GuardConfig(1, 10, stabilization_window_s=0, dry_run=dry_run)),
        actuator=actuator,
        clock=ManualClock(),
        logger=DecisionLog(stream=out),
        metrics=ControllerMetrics(),
        fallback=fallback,
        **kw,
    )
    return controller, source, actuator, out


def _metric(c: Controller, name: str, **labels: str) -> float:
    value = c.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_reconcile_patches_the_guarded_decision_and_logs_it() -> None:
    c, _source, actuator, out = _controller(policy=FakePolicy(np.array([7])))
    d = c.reconcile_once()
    assert (d.current_replicas, d.proposed_replicas, d.final_replicas) == (5, 7, 7)
    assert actuator.writes == [7]
    record = json.loads(out.getvalue())
    assert record["final_replicas"] == 7 and record["patched"] is True and record["reasons"] == []
    assert record["inputs"]["request_rate_rps"] == 50.0
    assert list(record["observation"]) == list(OBSERVATION_FEATURES)  # labelled, in the layout's order
    assert len(record["observation"]) == observation_size()
    assert record["observation"][OBSERVATION_FEATURES[0]] == pytest.approx(float(c.last_observation[0]))
    assert (
        record["policy_reasons"][0]["code"] == "PolicyProposal"
        and "proposed 7" in record["policy_reasons"][0]["message"]
    )
    assert _metric(c, "rlscale_current_replicas", target="ns/web") == 5
    assert _metric(c, "rlscale_proposed_replicas", target="ns/web") == 7
    assert _metric(c, "rlscale_signal_value", target="ns/web", signal="request_rate_rps") == 50.0
    assert _metric(c, "rlscale_signal_healthy", target="ns/web", signal="request_rate_rps") == 1
    assert _metric(c, "rlscale_policy_info", target="ns/web", policy=c.policy.name, version="builtin") == 1
    assert _metric(c, "rlscale_decisions_total", target="ns/web") == 1
    assert _metric(c, "rlscale_desired_replicas", target="ns/web") == 7
    assert _metric(c, "rlscale_decision_latency_seconds_count") == 1


def test_desired_replicas_come_from_the_scale_subresource() -> None:
    policy = FakePolicy(np.array([5]))
    c, _source, actuator, _ = _controller(policy=policy)
    actuator.replicas = 3
    c.reconcile_once()
    assert float(policy.seen[-1].desired_replicas[0]) == 3.0


def test_policy_exception_falls_back_to_hpa_and_counts_the_error() -> None:
    c, _s, actuator, out = _controller(
        policy=FakePolicy(RuntimeError("model exploded")), fallback=FakePolicy(np.array([6]))
    )
    d = c.reconcile_once()
    assert d.final_replicas == 6 and actuator.writes == [6]
    assert [r.code for r in d.reasons] == [POLICY_ERROR, FALLBACK_HPA]
    assert "model exploded" in json.loads(out.getvalue())["reasons"][0]["message"]
    assert _metric(c, "rlscale_errors_total", kind="policy") == 1
    assert _metric(c, "rlscale_guard_interventions_total", target="ns/web", reason=FALLBACK_HPA) == 1


def test_source_exception_holds_with_reasons_and_recovers() -> None:
    c, source, actuator, _ = _controller(fallback=FakePolicy(np.array([2])))
    source.fail = TimeoutError("prometheus timed out")
    d = c.reconcile_once()
    assert d.final_replicas == 5 and actuator.writes == []
    codes = [r.code for r in d.reasons]
    assert codes[0] == FAILED_GET_METRICS and STALE_METRICS in codes and HOLD_REPLICAS in codes
    source.fail = None
    d = c.reconcile_once()
    assert d.final_replicas == 7 and actuator.writes == [7] and d.reasons == ()


def test_unhealthy_required_signal_holds_but_optional_one_does_not() -> None:
    c, source, actuator, _ = _controller()
    source.health = {"cpu_utilization": False, "latency_p95_s": True}
    assert c.reconcile_once().final_replicas == 5
    source.health = {"latency_p95_s": False}
    source.signals = _signals()
    assert c.reconcile_once().final_replicas == 7
    assert actuator.writes == [7]


def test_nan_signal_counts_as_stale() -> None:
    reading = Reading(_signals(cpu=float("nan")))
    assert stale_signals_of(reading) == ("cpu_utilization",)


def test_actuator_failures_are_survived() -> None:
    c, _s, actuator, out = _controller()
    actuator.fail_get = ConnectionError("apiserver down")
    d = c.reconcile_once()
    assert [r.code for r in d.reasons] == [FAILED_GET_SCALE] and d.final_replicas == -1
    actuator.fail_get = None
    actuator.fail_set = RuntimeError("500 Internal Server Error")
    d = c.reconcile_once()
    assert d.reasons[0].code == FAILED_RESCALE and actuator.writes == []
    actuator.fail_set = None
    d = c.reconcile_once()
    assert actuator.writes == [7]
    assert _metric(c, "rlscale_errors_total", kind="scale_read") == 1
    assert _metric(c, "rlscale_errors_total", kind="actuator") == 1
    assert len(out.getvalue().splitlines()) == 3


def test_dry_run_never_patches() -> None:
    c, _s, actuator, out = _controller(dry_run=True)
    for _ in range(3):
        d = c.reconcile_once()
        assert d.dry_run and d.final_replicas == 7
    assert actuator.writes == []
    assert all(json.loads(line)["patched"] is False for line in out.getvalue().splitlines())


def test_run_forever_stops_after_max_decisions_and_on_stop_event() -> None:
    c, _s, _a, _ = _controller()
    assert c.run_forever(15.0, max_decisions=4) == 4
    assert c.clock.now() == pytest.approx(60.0)
    stop = threading.Event()
    stop.set()
    assert c.run_forever(15.0, stop_event=stop) == 0
    with pytest.raises(ValueError, match="interval_s"):
        c.run_forever(0)


def test_required_signals_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown signal names"):
        _controller(required_signals=("cpu",))


def test_metrics_endpoint_serves_the_controller_registry() -> None:
    import urllib.request

    c, _s, _a, _ = _controller()
    c.reconcile_once()
    port = c.metrics.serve(0)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        c.metrics.close()
    assert 'rlscale_decisions_total{target="ns/web"} 1.0' in text
    assert "rlscale_decision_latency_seconds_bucket" in text


def test_decision_log_file_roundtrip(tmp_path: Any) -> None:
    log = DecisionLog(tmp_path / "d.jsonl")
    log.write({"a": float("nan"), "b": [1.0, float("inf")]})
    log.close()
    assert read_decision_log(tmp_path / "d.jsonl") == [{"a": None, "b": [1.0, None]}]
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_decision_log(tmp_path / "bad.jsonl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DecisionLog(tmp_path / "missing" / "d.jsonl")


class HistorySource(FakeSource):
    """A source with a request-rate history: a burst of 90 req/s 40 minutes ago."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__()
        self.history_fail = fail
        self.asked: list[tuple[str, float, float]] = []

    def history(
        self, namespace: str, deployment: str, signal: str, duration_s: float, step_s: float, end_s: float
    ) -> list[tuple[float, float]]:
        self.asked.append((signal, duration_s, step_s))
        if self.history_fail is not None:
            raise self.history_fail
        n = round(duration_s / step_s) + 1  # Prometheus: both ends included
        rates = np.full(n, 5.0)
        rates[n - 160 : n - 150] = 90.0  # 40 minutes before now, 2.5 minutes long
        start = end_s - duration_s
        samples = [(start + i * step_s, float(r)) for i, r in enumerate(rates)]
        del samples[5:8]  # Prometheus has no samples for a short gap
        return samples


def test_warm_up_replays_the_load_history_into_policy_and_observation() -> None:
    from rlscale.controller.loop import WARM_UP_S
    from rlscale.core import OBSERVATION_FEATURES
    from rlscale.policies.learned import LearnedPolicy

    peak = OBSERVATION_FEATURES.index("load_peak_memory")
    policy = LearnedPolicy(SPEC, 1)
    c, _source, _actuator, _out = _controller(policy=policy)
    c.source = source = HistorySource()
    cold, *_ = _controller(policy=LearnedPolicy(SPEC, 1))
    assert c.warm_up() == int(WARM_UP_S / SPEC.step_s)
    assert source.asked == [("request_rate_rps", WARM_UP_S - SPEC.step_s, SPEC.step_s)]
    c.reconcile_once()
    cold.reconcile_once()
    # the burst 40 minutes ago, decayed over 2 h, is still in the peak memory: ~90 · e^(-1/3) / 5 pods
    assert c.last_observation is not None and cold.last_observation is not None
    assert c.last_observation[peak] == pytest.approx(90 * np.exp(-2400 / 7200) / (10.0 * 5), rel=0.05)
    assert cold.last_observation[peak] == pytest.approx(50.0 / (10.0 * 5))
    assert policy.observe(_signals())[0, peak] > 1.2  # the policy's own builder was warmed too


def test_warm_up_failure_starts_cold_and_is_counted() -> None:
    from rlscale.prometheus.client import CONNECTION_ERROR, PrometheusError

    c, *_ = _controller()
    c.source = HistorySource(fail=PrometheusError(CONNECTION_ERROR, "refused"))
    assert c.warm_up() == 0
    assert _metric(c, "rlscale_errors_total", kind="warm_up") == 1
    assert c.reconcile_once().final_replicas == 7
    c.source = FakeSource()  # a source without history: nothing to do
    assert c.warm_up() == 0


def test_a_policy_that_loads_late_is_warmed_when_it_loads(tmp_path: Any) -> None:
    from rlscale.controller.policy_loader import ReloadingPolicy
    from rlscale.core import OBSERVATION_FEATURES, ManualClock
    from rlscale.nets.checkpoint import CheckpointError
    from rlscale.policies.learned import LearnedPolicy

    peak = OBSERVATION_FEATURES.index("load_peak_memory")
    state = {"broken": True}
    loaded: list[LearnedPolicy] = []

    def factory() -> LearnedPolicy:
        if state["broken"]:
            raise CheckpointError("model.safetensors: truncated file")
        loaded.append(LearnedPolicy(SPEC, 1))
        return loaded[-1]

    clock = ManualClock()
    policy = ReloadingPolicy(factory, SPEC, name="learned", retry_s=10, clock=clock)
    c, *_ = _controller(policy=policy, fallback=FakePolicy(np.array([5])))
    c.source = source = HistorySource()
    assert c.warm_up() > 0  # nothing loaded yet: only the controller's own builder is warm
    c.reconcile_once()  # the policy is unavailable: the fallback decides
    state["broken"] = False
    clock.advance(10.0)
    c.reconcile_once()  # loads now, and asks for the history again before acting
    assert len(source.asked) == 2 and len(loaded) == 1
    assert loaded[0].observe(_signals())[0, peak] > 1.2  # the burst 40 minutes ago is remembered
