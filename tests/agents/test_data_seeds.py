"""The trainer's window builder draws the bursty kinds, on training and validation seeds only."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.agents import data
from rlscale.sim.presets import load_service
from rlscale.workload import synthetic as generate
from rlscale.workload.bursts import BURST_GENERATORS
from rlscale.workload.seeds import is_evaluation_seed

SPEC = load_service("web").spec


def test_default_mix_has_every_bursty_kind():
    kinds = {
        t.split(":", 1)[1].replace("-", "_") for t in data.DEFAULT_TRAIN_TRACES if t.startswith("synthetic:")
    }
    assert set(BURST_GENERATORS) <= kinds


@pytest.mark.parametrize("run_seed", [0, 1, 999])
def test_build_windows_never_generates_an_evaluation_seed(monkeypatch, run_seed):
    drawn: list[int] = []

    def recording(kind, steps, step_s, seed, **params):
        drawn.append(seed)
        return generate(kind, steps, step_s, seed, **params)

    monkeypatch.setattr(data, "synthetic", recording)
    traces = [t for t in data.DEFAULT_TRAIN_TRACES if t.startswith("synthetic:")]
    ws = data.build_windows(
        traces, SPEC, window_steps=40, windows_per_trace=3, val_windows_per_trace=2, seed=run_seed
    )
    assert len(drawn) == 5 * len(traces) and not any(is_evaluation_seed(s) for s in drawn)
    rec = ws.record["traces"]["synthetic:mmpp"]
    assert rec["train_seeds"] == [1000 * run_seed, 1000 * run_seed + 2] and rec["validation_seeds"] == [
        500,
        501,
    ]
    # windows are the generator's series at those seeds, rescaled: same shape up to a factor
    raw = generate("mmpp", 40, SPEC.step_s, 1000 * run_seed)
    i = traces.index("synthetic:mmpp") * 3
    np.testing.assert_allclose(ws.train[i] / ws.train[i].max(), raw / raw.max())


def test_build_windows_keeps_kind_parameters_and_refuses_seeds():
    ws = data.build_windows(["synthetic:mmpp?states=2"], SPEC, window_steps=400, windows_per_trace=2)
    raw = generate("mmpp", 400, SPEC.step_s, 1, states=2)
    np.testing.assert_allclose(ws.train[1] / ws.train[1].max(), raw / raw.max())
    with pytest.raises(ValueError, match="training's to choose"):
        data.build_windows(["synthetic:mmpp?seed=1000001"], SPEC, window_steps=40)
    with pytest.raises(ValueError, match="evaluation seeds"):
        data.build_windows(["synthetic:spike"], SPEC, window_steps=40, seed=1000)
