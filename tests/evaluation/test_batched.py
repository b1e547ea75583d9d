"""The batched harness: every policy in one simulator batch gives the numbers of each policy
run alone (issue 16), and the HPA sweep merged into one HPA is the sweep run point by point."""

from __future__ import annotations

import numpy as np
import pytest

from rlscale.evaluation.runner import EvalTrace, evaluate, plan_batches, run_policy, run_traces
from rlscale.evaluation.specs import resolve_policies
from rlscale.sim.presets import get_preset

WEB = get_preset("web")
#: one of each kind: the HPA (and a sweep merged into one instance), KEDA, KPA, threshold,
#: static, predictive, the shipped learned policy and the oracle
EVERY_KIND = [
    "hpa",
    "hpa-frontier:lo=50,hi=90,step=20",
    "keda",
    "kpa",
    "threshold",
    "static:replicas=6",
    "predictive",
    "learned",
    "oracle",
]


def _bursty(name: str, steps: int = 90, windows: int = 2) -> EvalTrace:
    """Load that rises and falls steeply, so every policy scales up (start-up jitter draws)
    and down within a few minutes."""
    t = np.arange(steps)
    cap = float(WEB.mu_rps)
    rates = np.stack(
        [cap * (3 + 7 * (np.sin(t / (7 + 3 * w)) > 0.3) + 2 * np.cos(t / 11.0)) for w in range(windows)]
    )
    return EvalTrace(name, rates)


def _assert_same(a, b) -> None:
    assert (a.policy, a.trace, a.frontier_target_pct) == (b.policy, b.trace, b.frontier_target_pct)
    for key in a.per_seed:
        np.testing.assert_allclose(a.per_seed[key], b.per_seed[key], rtol=1e-9, atol=1e-12, err_msg=key)
    assert a.timeline is not None and b.timeline is not None
    np.testing.assert_array_equal(a.timeline.desired_replicas, b.timeline.desired_replicas)


def test_batched_run_equals_each_policy_run_alone() -> None:
    entries, _ = resolve_policies(EVERY_KIND, WEB.spec)
    assert sum(e.batch_key is not None for e in entries) == 4  # hpa + the 3 sweep points merge
    traces = [_bursty("a"), _bursty("b", windows=3)]
    batched = run_traces(WEB, traces, entries, seeds=2, base_seed=3)
    alone = [run_policy(WEB, tr, e, seeds=2, base_seed=3) for tr in traces for e in entries]
    assert len(batched) == len(alone) == len(entries) * 2
    for a, b in zip(batched, alone, strict=True):
        _assert_same(a, b)
    # the policies really acted differently (not one policy copied into every slot)
    costs = {r.policy: float(r.per_seed["cost_usd"].sum()) for r in batched if r.trace == "a"}
    assert len(set(np.round(list(costs.values()), 9))) == len(costs)


def test_sweep_in_one_hpa_equals_separate_hpas() -> None:
    """The HPA with a target per env is the HPA of each target (the same HPA code)."""
    merged, _ = resolve_policies(["hpa:target=50", "hpa:target=70", "hpa:target=90"], WEB.spec)
    assert len({e.batch_key for e in merged if not e.oracle}) == 1
    separate = [e.__class__(label=e.label, make=e.make) for e in merged if not e.oracle]
    merged = [e for e in merged if not e.oracle]
    tr = [_bursty("a")]
    for a, b in zip(
        run_traces(WEB, tr, merged, seeds=2)[:3], run_traces(WEB, tr, separate, seeds=2)[:3], strict=True
    ):
        _assert_same(a, b)


def test_evaluate_groups_equal_lengths_and_keeps_input_order() -> None:
    traces = [_bursty("a", 90), _bursty("b", 60), _bursty("c", 90)]
    assert plan_batches(traces, policies=3, seeds=2) == [[0, 2], [1]]
    entries, _ = resolve_policies(["hpa", "kpa"], WEB.spec)
    results = evaluate(WEB, traces, entries, seeds=2)
    assert [(r.trace, r.policy) for r in results] == [
        (t, p) for t in ("a", "b", "c") for p in ("hpa", "kpa", "oracle")
    ]


def test_plan_batches_caps_the_recorded_env_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlscale.evaluation import runner

    monkeypatch.setattr(runner, "MAX_BATCH_ENV_STEPS", 2 * 90 * 2 * 2 * 3)  # two traces' worth
    traces = [_bursty(n, 90) for n in "abcde"]
    assert plan_batches(traces, policies=3, seeds=2) == [[0, 1], [2, 3], [4]]


def test_a_long_trace_splits_its_policies_but_not_a_merged_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlscale.evaluation import runner

    entries, _ = resolve_policies(["kpa", "hpa-frontier:lo=50,hi=90,step=20", "keda"], WEB.spec)
    monkeypatch.setattr(runner, "MAX_BATCH_ENV_STEPS", 3 * 90 * 2 * 2)  # three entries' worth
    assert runner.entry_chunks(entries, 90 * 2 * 2) == [[0], [1, 2, 3], [4, 5]]
    tr = [_bursty("a")]
    split = evaluate(WEB, tr, entries, seeds=2)
    monkeypatch.undo()
    whole = evaluate(WEB, tr, entries, seeds=2)
    for a, b in zip(split, whole, strict=True):
        _assert_same(a, b)


def test_counter_uniforms_depend_only_on_key_step_and_pod() -> None:
    from rlscale.sim.simulator import counter_uniforms

    keys = np.array([11, 2**63 + 5, 42], dtype=np.uint64)
    wide = counter_uniforms(keys, step=7, width=6)
    # another batch order, fewer pods: the same numbers for the same (key, step, pod)
    np.testing.assert_array_equal(counter_uniforms(keys[::-1], 7, 3), wide[::-1, :3])
    assert not np.array_equal(counter_uniforms(keys, 8, 6), wide)  # steps differ
    many = counter_uniforms(np.arange(20_000, dtype=np.uint64), 3, 4)
    assert 0.0 <= many.min() and many.max() < 1.0
    assert abs(many.mean() - 0.5) < 0.01 and abs(many.std() - 12**-0.5) < 0.01
