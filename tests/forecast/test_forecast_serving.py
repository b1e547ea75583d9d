"""Serving the LSTM forecast: the torch-free forward equals the torch model, the observation
builder feeds it the observed rates in order, a checkpoint carries it to the learned policy,
and a broken one is refused with the problem named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlscale.core import OBSERVATION_FEATURES, ObservationBuilder, ScalingSignals, ServiceSpec
from rlscale.envs.vector import AutoscaleVectorEnv
from rlscale.forecast.lstm import ForecasterConfig, LSTMForecaster
from rlscale.nets import CheckpointError, load_checkpoint, save_checkpoint
from rlscale.nets.forecaster import ForecasterError, load_forecaster
from rlscale.policies.learned import LearnedPolicy, default_policy_path

SPEC = ServiceSpec(name="t", pod_capacity_rps=100.0, slo_latency_s=0.2, min_replicas=1, max_replicas=20)
FORECAST = OBSERVATION_FEATURES.index("forecast_trend")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    series = [a * (1.0 + 0.5 * np.sin(np.arange(80) / b)) for a, b in rng.uniform(5, 60, size=(40, 2))]
    model = LSTMForecaster(ForecasterConfig(horizon_steps=3, hidden=8, train_steps=40, seed=0))
    model.fit(series)
    return model.save(tmp_path_factory.mktemp("fc") / "forecaster")


def test_numpy_forward_equals_torch(trained: Path) -> None:
    torch_model = LSTMForecaster.load(trained)
    served = load_forecaster(trained)
    hist = np.random.default_rng(1).gamma(2.0, 40.0, size=(64, 16))
    hist[0] = 0.0  # an idle service
    np.testing.assert_allclose(served.forecast(hist), torch_model.forecast(hist), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        served.model_forecast(hist), torch_model.model_forecast(hist), rtol=1e-4, atol=1e-4
    )


class _Recorder:
    """A forecaster that remembers what it was given and forecasts twice the last rate."""

    history_steps = 4

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def forecast(self, hist: np.ndarray) -> np.ndarray:
        self.seen.append(hist.copy())
        return 2.0 * hist[:, -1]


def _signals(rate: float) -> ScalingSignals:
    one = np.ones(1)
    return ScalingSignals(
        time_s=0 * one,
        desired_replicas=2 * one,
        ready_replicas=2 * one,
        pending_replicas=0 * one,
        request_rate_rps=rate * one,
        cpu_utilization=0.5 * one,
        latency_p95_s=0.05 * one,
        backlog_requests=0 * one,
        dropped_rps=0 * one,
    )


def test_builder_feeds_the_observed_rates_oldest_first() -> None:
    rec = _Recorder()
    builder = ObservationBuilder(SPEC, 1, rec)
    plain = ObservationBuilder(SPEC, 1)
    for rate in (10.0, 20.0, 30.0, 40.0, 50.0):
        obs = builder.build(_signals(rate))
        assert obs[0, FORECAST] == pytest.approx(np.log(2 * rate + 1.0) - np.log(rate + 1.0), rel=1e-5)
        np.testing.assert_array_equal(
            np.delete(obs, FORECAST, axis=1), np.delete(plain.build(_signals(rate)), FORECAST, axis=1)
        )
    np.testing.assert_allclose(rec.seen[0], [[10.0] * 4])  # a fresh row's history is its rate
    np.testing.assert_allclose(rec.seen[-1], [[20.0, 30.0, 40.0, 50.0]])
    with pytest.raises(ValueError, match="reads 99 periods"):
        rec.history_steps = 99
        ObservationBuilder(SPEC, 1, rec)


def _with_forecaster(src: Path, forecaster: Path, dst: Path, **edits: object) -> Path:
    ck = load_checkpoint(src)
    fc = load_forecaster(forecaster)
    meta = dict(ck.metadata)
    meta["observation"] = {**meta["observation"], "forecaster": {**fc.config(), **edits.get("config", {})}}
    tensors = {**ck.tensors, **fc.prefixed_tensors()}
    for name in edits.get("drop", ()):
        del tensors[name]
    for name in edits.get("nan", ()):
        tensors[name] = np.full_like(tensors[name], np.nan)
    return save_checkpoint(dst, tensors, meta)


def test_learned_policy_serves_a_checkpoint_with_a_forecaster(trained: Path, tmp_path: Path) -> None:
    path = _with_forecaster(default_policy_path(), trained, tmp_path / "ck")
    policy = LearnedPolicy(SPEC, 1, path)
    assert policy.describe()["forecaster"]["horizon_steps"] == 3
    builder = ObservationBuilder(SPEC, 1, load_forecaster(trained))
    for rate in (50.0, 80.0, 160.0, 150.0):
        obs = policy.observe(_signals(rate))
        np.testing.assert_array_equal(obs, builder.build(_signals(rate)))
    assert obs[0, FORECAST] != 0.0


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"drop": ["forecaster.lstm.weight_hh_l1"]}, "missing forecaster tensors"),
        ({"nan": ["forecaster.fc.weight"]}, "'forecaster.fc.weight' holds NaN"),
        ({"config": {"num_layers": 3}}, "missing forecaster tensors"),
        ({"config": {"history_steps": "x"}}, "bad forecaster config"),
        ({"config": {"history_steps": 40}}, "reads 40 periods"),
    ],
)
def test_broken_forecaster_in_checkpoint_is_refused(
    trained: Path, tmp_path: Path, edits: dict[str, object], message: str
) -> None:
    path = _with_forecaster(default_policy_path(), trained, tmp_path / "ck", **edits)
    with pytest.raises(CheckpointError, match=message):
        LearnedPolicy(SPEC, 1, path)


def test_corrupt_forecaster_directory_is_refused(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "fc"
    bad.mkdir()
    (bad / "forecaster.json").write_text((trained / "forecaster.json").read_text(), encoding="utf-8")
    (bad / "forecaster.safetensors").write_bytes((trained / "forecaster.safetensors").read_bytes()[:100])
    with pytest.raises(ForecasterError, match="cannot read weights"):
        load_forecaster(bad)
    (bad / "forecaster.json").write_text(json.dumps({"kind": "other"}), encoding="utf-8")
    with pytest.raises(ForecasterError, match="not an lstm_forecaster"):
        load_forecaster(bad)


def test_env_feeds_the_forecaster(trained: Path) -> None:
    fc = load_forecaster(trained)
    ramp = [np.linspace(50.0, 400.0, 300)]
    env = AutoscaleVectorEnv(
        num_envs=2, load_windows=ramp, episode_steps=100, action_mode="delta", forecaster=fc, seed=0
    )
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        obs, *_ = env.step(np.full(2, 1))
    assert np.all(obs[:, FORECAST] != 0.0)
    with pytest.raises(ValueError, match="not both"):
        AutoscaleVectorEnv(num_envs=1, load_windows=ramp, forecast=True, forecaster=fc)


def test_onnx_export_carries_the_forecaster(trained: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from rlscale.nets.onnx_export import export_onnx

    path = _with_forecaster(default_policy_path(), trained, tmp_path / "ck")
    stale = tmp_path / "model.forecaster.onnx"
    export_onnx(path, tmp_path / "model.onnx")
    export_onnx(default_policy_path(), tmp_path / "model.onnx")  # a policy without a forecaster
    assert not stale.exists()  # ... removes the earlier one's forecaster file
    policy_onnx, forecaster_onnx = export_onnx(path, tmp_path / "model.onnx")
    assert (policy_onnx.name, forecaster_onnx.name) == ("model.onnx", "model.forecaster.onnx")
    hist = np.random.default_rng(2).gamma(2.0, 40.0, size=(32, 16)).astype(np.float32)
    sess = ort.InferenceSession(str(forecaster_onnx), providers=["CPUExecutionProvider"])
    got = sess.run(["forecast"], {"history": hist})[0]
    np.testing.assert_allclose(got, load_forecaster(trained).forecast(hist), rtol=1e-4, atol=1e-3)


def test_forecaster_directory_with_bad_tensors_is_refused(trained: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    for name, value, message in [
        ("fc.weight", np.full((1, 8), np.nan, dtype=np.float32), "NaN or Inf"),
        ("lstm.weight_hh_l0", np.float32(1.0), "wrong rank"),
    ]:
        bad = tmp_path / name
        bad.mkdir()
        (bad / "forecaster.json").write_text((trained / "forecaster.json").read_text(), encoding="utf-8")
        tensors = load_file(str(trained / "forecaster.safetensors"))
        tensors[name] = np.asarray(value)
        save_file(tensors, str(bad / "forecaster.safetensors"))
        with pytest.raises(ForecasterError, match=message):
            load_forecaster(bad)
