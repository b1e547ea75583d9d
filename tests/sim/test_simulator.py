import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlscale.sim import (
    PRESETS,
    ServiceParams,
    StepMetrics,
    get_preset,
    init_state,
    latency_mixture_quantile,
    latency_mixture_survival,
    latency_survival,
    load_service,
    randomize,
    save_service,
    signals,
    step,
)
from rlscale.sim.queueing import latency_quantile_params

WEB = get_preset("web")


def fixed(params: ServiceParams, startup_s: float = 45.0, poisson: bool = False) -> ServiceParams:
    return replace(
        params, startup_delay_min_s=startup_s, startup_delay_max_s=startup_s, poisson_arrivals=poisson
    )


@settings(max_examples=60, deadline=None)
@given(
    ready=st.integers(0, 30),
    backlog=st.floats(0, 5e4),
    rate=st.floats(0, 5e3),
    bound=st.floats(0, 1e5),
    timeout=st.floats(0.0, 60.0),
    cpu_per_req=st.floats(1e-3, 2.0),
    poisson=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_conservation_over_random_parameters(
    ready, backlog, rate, bound, timeout, cpu_per_req, poisson, seed
):
    spec = replace(WEB.spec, min_replicas=0, max_replicas=40)
    params = replace(
        WEB,
        spec=spec,
        queue_bound_requests=bound,
        request_timeout_s=timeout,
        cpu_per_request_core_s=cpu_per_req,
        poisson_arrivals=poisson,
    )
    rng = np.random.default_rng(seed)
    state = init_state(params, 4, ready, rng)
    state.backlog[:] = backlog
    start = state.backlog.copy()
    for _ in range(3):
        start = state.backlog.copy()
        state, m = step(params, state, np.full(4, rate), np.full(4, ready), rng)
        np.testing.assert_allclose(m.served + m.dropped + m.backlog, start + m.offered, rtol=1e-12, atol=1e-9)
        assert np.all(m.served >= 0) and np.all(m.dropped >= 0) and np.all(m.backlog >= 0)
        assert np.all(m.backlog <= bound + 1e-9)
        assert np.all(m.backlog <= timeout * ready * params.mu_rps * (1 + 1e-12) + 1e-9)
        assert np.all(m.violating <= m.served + 1e-9)
        assert np.all(m.served <= ready * params.mu_rps * 15.0 * (1 + 1e-12))


@pytest.mark.parametrize("backlog", [0.0, 500.0, 5000.0])
@pytest.mark.parametrize("rate", [50.0, 300.0, 900.0, 2000.0])
def test_more_ready_replicas_never_serve_less(rate, backlog):
    params = fixed(WEB)
    prev, prev_good = None, 0.0
    for ready in range(1, 21):
        state = init_state(params, 1, ready, np.random.default_rng(0))
        state.backlog[:] = backlog
        _, m = step(params, state, np.array([rate]), np.array([ready]), np.random.default_rng(0))
        good = m.served - m.violating
        if prev is not None:
            assert m.served[0] >= prev.served[0] - 1e-9
            assert good[0] >= prev_good - 1e-6
            assert m.dropped[0] <= prev.dropped[0] + 1e-9
            # more pods may keep more queued instead of timing out, but never leave more unserved
            assert m.backlog[0] + m.dropped[0] <= prev.backlog[0] + prev.dropped[0] + 1e-9
            # within the M/M/c regime (no queue left over) the latency law only gets better
            if prev.backlog[0] == 0 and prev.dropped[0] == 0 and backlog == 0:
                assert latency_survival(0.2, m)[0] <= latency_survival(0.2, prev)[0] + 1e-15
        prev, prev_good = m, good[0]


def test_pending_pods_ready_after_exactly_the_startup_delay():
    for startup_s, expected_steps in [(45.0, 3), (40.0, 3), (15.0, 1), (0.0, 0), (60.0, 4)]:
        params = fixed(WEB, startup_s)
        rng = np.random.default_rng(0)
        state = init_state(params, 1, 2, rng)
        readies = []
        for _ in range(6):
            state, m = step(params, state, np.array([100.0]), np.array([5]), rng)
            readies.append(int(m.ready[0]))
        assert readies == [2] * expected_steps + [5] * (6 - expected_steps), startup_s


def test_jittered_delay_stays_within_bounds():
    params = replace(WEB, startup_delay_min_s=30.0, startup_delay_max_s=60.0)
    rng = np.random.default_rng(1)
    n = 2000
    state = init_state(params, n, 1, rng)
    first_ready = np.full(n, -1)
    for k in range(6):
        state, m = step(params, state, np.full(n, 10.0), np.full(n, 2), rng)
        first_ready = np.where((first_ready < 0) & (m.ready == 2), k, first_ready)
    # U(30, 60) s at 15 s steps, rounded up: 3 steps (<= 45 s) or 4, each about half the time
    assert set(np.unique(first_ready)) == {3, 4}
    assert np.mean(first_ready == 3) == pytest.approx(0.5, abs=0.05)


def test_removed_pods_stop_at_once_and_pending_go_first():
    params = fixed(WEB, 45.0)
    rng = np.random.default_rng(0)
    state = init_state(params, 1, 6, rng)
    state, m = step(params, state, np.array([300.0]), np.array([9]), rng)  # 3 pending
    assert (m.ready[0], m.pending[0]) == (6, 3)
    state, m = step(params, state, np.array([300.0]), np.array([7]), rng)  # drop 2 pending
    assert (m.ready[0], m.pending[0]) == (6, 1)
    state, m = step(params, state, np.array([2000.0]), np.array([2]), rng)  # 1 pending + 3 ready
    assert (m.ready[0], m.pending[0]) == (2, 0)
    assert m.served[0] <= 2 * params.mu_rps * 15.0 + 1e-9
    for _ in range(4):  # the removed pending pod never shows up
        state, m = step(params, state, np.array([10.0]), np.array([2]), rng)
        assert m.ready[0] == 2


def test_timeout_and_queue_bound_drop_requests():
    params = fixed(replace(WEB, request_timeout_s=2.0))
    state = init_state(params, 1, 1, np.random.default_rng(0))
    _, m = step(params, state, np.array([1000.0]), np.array([1]), np.random.default_rng(0))
    assert m.backlog[0] == pytest.approx(2.0 * params.mu_rps)
    assert m.dropped[0] == pytest.approx(1000.0 * 15 - params.mu_rps * 15 - 2.0 * params.mu_rps)
    params = fixed(replace(WEB, queue_bound_requests=100.0))
    state = init_state(params, 1, 1, np.random.default_rng(0))
    _, m = step(params, state, np.array([1000.0]), np.array([1]), np.random.default_rng(0))
    assert m.backlog[0] == 100.0 and m.dropped[0] > 0
    # queued requests wait their drain time: latency ramps past the SLO
    assert m.latency_p95_s[0] > params.spec.slo_latency_s and m.violating[0] > 0


def test_metric_lag():
    for lag in (0, 1, 3):
        params = replace(fixed(WEB), metric_lag_steps=lag)
        rng = np.random.default_rng(0)
        state = init_state(params, 1, 10, rng, initial_rate_rps=100.0)
        assert signals(params, state).request_rate_rps[0] == 100.0
        seen = []
        for k in range(6):
            rate = 100.0 if k < 2 else 500.0
            state, _ = step(params, state, np.array([rate]), np.array([10]), rng)
            seen.append(signals(params, state).request_rate_rps[0])
        first = seen.index(500.0)
        assert first == 2 + lag
        sig = signals(params, state)
        assert sig.ready_replicas[0] == 10 and sig.desired_replicas[0] == 10  # replica counts are not lagged


def test_cpu_utilization_and_cost():
    params = fixed(WEB)
    state = init_state(params, 1, 4, np.random.default_rng(0))
    _, m = step(params, state, np.array([200.0]), np.array([4]), np.random.default_rng(0))
    usage = params.cpu_idle_cores + 200.0 / 4 * params.cpu_per_request_core_s
    assert m.cpu_utilization[0] == pytest.approx(usage / params.spec.cpu_request_cores)
    assert m.pod_seconds[0] == 60.0
    assert m.cpu_core_seconds[0] == pytest.approx(60.0 * 0.6)
    expected = (60 * 0.6 * 0.031611 + 60 * 1.0 * 0.004237) / 3600
    assert m.cost_usd[0] == pytest.approx(expected)
    # pending pods are billed from creation
    params = fixed(WEB, 45.0)
    state = init_state(params, 1, 4, np.random.default_rng(0))
    _, m = step(params, state, np.array([200.0]), np.array([6]), np.random.default_rng(0))
    assert m.pod_seconds[0] == 90.0 and m.ready[0] == 4


def test_mixture_quantiles_of_served_requests():
    params = WEB
    rng = np.random.default_rng(3)
    state = init_state(params, 3, 3, rng)
    steps = []
    for rate in (100.0, 250.0, 330.0, 400.0, 120.0):
        state, m = step(params, state, np.full(3, rate), np.array([3, 4, 5]), rng)
        steps.append(m)
    run = StepMetrics.stack(steps)
    q = latency_mixture_quantile([0.5, 0.95, 0.99], run)
    for level, value in zip((0.5, 0.95, 0.99), q, strict=True):
        assert latency_mixture_survival(float(value), run) == pytest.approx(1 - level, rel=1e-6)
    # one step alone: the mixture quantile is the step's own quantile (= its p95 metric)
    one = steps[0].select(slice(0, 1))
    assert latency_mixture_quantile(0.95, one)[0] == pytest.approx(steps[0].latency_p95_s[0], rel=1e-4)


def test_latency_survival_of_step_matches_its_mean_and_p95():
    rng = np.random.default_rng(0)
    state = init_state(WEB, 2, 3, rng)
    _, m = step(WEB, state, np.array([250.0, 250.0]), np.array([3, 3]), rng)
    s95 = latency_survival(m.latency_p95_s, m)
    np.testing.assert_allclose(s95, 0.05, rtol=1e-3)
    # E[L] = integral of the survival
    x = np.linspace(0, 1.0, 200_001)
    surv = latency_survival(x[:, None], m)
    np.testing.assert_allclose(np.trapezoid(surv, x, axis=0), m.latency_mean_s, rtol=1e-4)
    p = latency_quantile_params(
        0.95, m.lat_base_s, m.lat_width_s, m.lat_wait_prob, m.lat_wait_rate, m.lat_service_rate
    )
    np.testing.assert_allclose(p, m.latency_p95_s, rtol=1e-4)


def test_lipari_preset_reproduces_seed_latency_rule():
    p = get_preset("lipari2025")
    assert p.spec.pod_capacity_rps == 0.8 and p.spec.slo_latency_s == 0.7
    assert (p.spec.min_replicas, p.spec.max_replicas, p.spec.step_s) == (1, 13, 15.0)
    assert p.max_startup_steps() == 0
    state = init_state(p, 1, 5, np.random.default_rng(0))
    lam = 2.0  # rho = 0.5 -> RT = 0.2 + 0.5*0.8 = 0.6
    _, m = step(p, state, np.array([lam]), np.array([5]), np.random.default_rng(0))
    assert m.latency_mean_s[0] == pytest.approx(0.6, abs=1e-9)
    assert m.violating[0] == 0
    state = init_state(p, 1, 3, np.random.default_rng(0))  # rho = 0.833 -> 0.867 s > SLO
    _, m = step(p, state, np.array([lam]), np.array([3]), np.random.default_rng(0))
    assert m.violating[0] == pytest.approx(m.served[0])
    # and scaling takes effect at once (no start-up delay)
    _, m = step(p, init_state(p, 1, 1), np.array([lam]), np.array([7]), np.random.default_rng(0))
    assert m.ready[0] == 7


def test_presets_load_save_and_errors(tmp_path):
    with pytest.raises(ValueError, match="known presets"):
        get_preset("nope")
    assert load_service("web") is PRESETS["web"]
    path = save_service(PRESETS["lipari2025"], tmp_path / "svc.json")
    back = load_service(str(path))
    assert back.to_dict() == PRESETS["lipari2025"].to_dict()
    bad = tmp_path / "bad.json"
    bad.write_text('{"spec": {\n "name": 1,,}')
    with pytest.raises(ValueError, match=r"bad.json: line 2"):
        load_service(bad)
    data = PRESETS["web"].to_dict()
    data["cpu_limit_cores"] = 0.01
    (tmp_path / "w.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="cpu_limit_cores"):
        load_service(tmp_path / "w.json")
    data = PRESETS["web"].to_dict()
    data["bogus"] = 1
    (tmp_path / "u.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bogus"):
        load_service(tmp_path / "u.json")
    with pytest.raises(ValueError, match="does not exist"):
        load_service(tmp_path / "missing.json")


def test_web_preset_capacity_matches_measured_saturation():
    assert 103.0 <= WEB.mu_rps <= 115.0
    assert WEB.spec.pod_capacity_rps == pytest.approx(WEB.mu_rps)
    # ~20 ms response below saturation (README median-RT table)
    state = init_state(WEB, 1, 1, np.random.default_rng(0))
    _, m = step(
        replace(WEB, poisson_arrivals=False), state, np.array([24.0]), np.array([1]), np.random.default_rng(0)
    )
    assert 0.015 <= m.latency_mean_s[0] <= 0.025


def test_randomize_per_env_parameters():
    rng = np.random.default_rng(0)
    p = randomize(WEB, rng, 64, scale=0.2)
    assert p.num_envs == 64 and p.spec == WEB.spec
    cpr = np.asarray(p.cpu_per_request_core_s)
    assert cpr.min() >= 0.8 * WEB.cpu_per_request_core_s and cpr.max() <= 1.2 * WEB.cpu_per_request_core_s
    assert np.unique(cpr).size == 64
    state = init_state(p, 64, 3, rng)
    _, m = step(p, state, np.full(64, 290.0), np.full(64, 3), rng)
    assert np.unique(m.served).size > 1  # different capacities
    with pytest.raises(ValueError, match="num_envs"):
        init_state(p, 32, 3, rng)


def test_scalar_desired_counts_apply_to_every_env():
    for desired in (4, 4.4, np.float64(3.6)):
        runs = [
            step(fixed(WEB), init_state(WEB, 3, 1), np.full(3, 100.0), d, np.random.default_rng(0))[1]
            for d in (desired, np.full(3, desired))
        ]
        assert runs[0].desired.tolist() == runs[1].desired.tolist() == [4, 4, 4]


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="startup_delay_min_s"):
        replace(WEB, startup_delay_min_s=90.0)
    with pytest.raises(ValueError, match="base_latency_s"):
        replace(WEB, base_latency_s=-1.0)
    state = init_state(WEB, 2, 1)
    with pytest.raises(ValueError, match="arrival_rate_rps"):
        step(WEB, state, np.array([1.0, np.nan]), np.array([1, 1]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="desired_replicas"):
        step(WEB, state, np.array([1.0, 1.0]), np.array([1.0, np.nan]), np.random.default_rng(0))
