import json

import numpy as np
from typer.testing import CliRunner

from rlscale.sim import get_preset
from rlscale.sim.rollout import rollout, summarize


class Fixed:
    def __init__(self, replicas: int) -> None:
        self.replicas = replicas

    def act(self, signals):
        return np.full(signals.num_envs, self.replicas)


def test_rollout_summary_counts_every_request():
    params = get_preset("web")
    rates = np.linspace(100, 900, 40)
    m = rollout(params, rates, Fixed(5), seed=1)
    s = summarize(m, params)
    assert s["steps"] == 40
    assert (
        s["requests_served"] + s["requests_dropped"] + s["backlog_end"]
        == np.float64(s["requests_offered"]).round(6)
        or abs(s["requests_served"] + s["requests_dropped"] + s["backlog_end"] - s["requests_offered"])
        < 1e-6 * s["requests_offered"]
    )
    assert s["pod_hours"] == 5 * 40 * 15 / 3600
    # 5 pods cannot carry 900 req/s: the run must show violations; more pods fewer
    more = summarize(rollout(params, rates, Fixed(12), seed=1), params)
    assert s["slo_violation_rate"] > more["slo_violation_rate"]
    assert more["cost_usd"] > s["cost_usd"]
    assert s["latency_p50_s"] <= s["latency_p95_s"] <= s["latency_p99_s"]


def test_simulate_command_json():
    from rlscale.cli.main import app

    result = CliRunner().invoke(
        app, ["simulate", "--trace", "synthetic:periodic", "--hours", "0.5", "--policy", "static", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["steps"] == 120 and summary["policy"] == "static"
    bad = CliRunner().invoke(app, ["simulate", "--service", "nope"])
    assert bad.exit_code != 0 and "known presets" in bad.output
