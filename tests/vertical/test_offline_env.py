"""The offline (measured-data) env and the fixes to the seed's version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from rlscale.envs.offline import MeasuredTable, OfflineTeaStoreEnv, evaluate_offline
from rlscale.workload.app2scale import DEFAULT_DATA_DIR

HAVE_DATA = (DEFAULT_DATA_DIR / "agent_offline_v2_data.csv").exists()


def _tiny_table() -> MeasuredTable:
    rows = []
    for r in (1, 3):  # replicas 2 deliberately never measured
        for load in (24.0, 96.0, 200.0):
            cap = 60.0 * r
            rows.append(
                dict(
                    replicas=r,
                    cpu_limit_cores=0.6,
                    heap_mb=700.0,
                    offered_rps=load,
                    throughput_rps=min(load, cap),
                    latency_mean_s=0.02 if load < cap else 0.3,
                )
            )
    return MeasuredTable(pd.DataFrame(rows))


def test_unmeasured_configuration_moves_to_the_nearest_measured_one() -> None:
    env = OfflineTeaStoreEnv(backend="data", table=_tiny_table(), seed=0, episode_steps=10)
    env.reset(seed=0)
    env._cfg = np.array([1.0, 0.6, 700.0])
    _, reward, *_rest, info = env.step(np.array([2, 1, 1]))  # +1 replica -> 2, not in the data
    assert env._cfg[0] == 2.0  # the seed kept the old state and gave -5; we move
    assert info["match_distance"] > 0
    assert reward > -5.0 - 1e-9 or info["failed_fraction"] > 0


def test_reset_is_seeded_not_row_558_and_load_is_a_trajectory() -> None:
    env = OfflineTeaStoreEnv(backend="data", table=_tiny_table(), seed=0, episode_steps=10)
    starts = {tuple(env.reset(seed=s)[0][:3]) for s in range(12)}
    assert len(starts) > 3
    env.reset(seed=5)
    load_a = [env.step(np.array([1, 1, 1]))[0][3] for _ in range(5)]
    env.reset(seed=5)
    load_b = [env.step(np.array([2, 2, 2]))[0][3] for _ in range(5)]
    np.testing.assert_allclose(load_a, load_b)  # the load does not depend on the action


def test_sim_backend_passes_checker_and_capacity_matters() -> None:
    env = OfflineTeaStoreEnv(backend="sim", seed=0, episode_steps=20)
    check_env(env, skip_render_check=True)
    small = evaluate_offline(lambda o: np.array([0, 0, 1]), env, episodes=3)  # always shrink
    big = evaluate_offline(lambda o: np.array([2, 2, 1]), env, episodes=3)  # always grow
    assert small["failed_fraction"] > big["failed_fraction"]
    assert small["cost_usd_h"] < big["cost_usd_h"]


@pytest.mark.skipif(not HAVE_DATA, reason="shared app2scale data not available")
def test_data_backend_on_the_measured_runs() -> None:
    env = OfflineTeaStoreEnv(backend="data", seed=0, episode_steps=20)
    big = evaluate_offline(lambda o: np.array([2, 2, 1]), env, episodes=3)
    small = evaluate_offline(lambda o: np.array([0, 0, 1]), env, episodes=3)
    assert small["failed_fraction"] > big["failed_fraction"]


def test_missing_columns_in_data_file(tmp_path: Path) -> None:
    bad = tmp_path / "data.csv"
    bad.write_text("replica,cpu\n1,5\n")
    with pytest.raises(ValueError, match="missing column"):
        OfflineTeaStoreEnv(backend="data", data_paths=[str(bad)])
