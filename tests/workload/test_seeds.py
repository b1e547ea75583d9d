"""The synthetic seed split: training, validation and evaluation seeds never meet."""

from __future__ import annotations

import pytest

from rlscale.workload import SYNTHETIC_TEST_SEED_OFFSET, standard_split
from rlscale.workload.seeds import (
    EVALUATION_SEED_MIN,
    MAX_RUN_SEED,
    TRAINING_SEEDS_PER_RUN,
    VALIDATION_SEEDS,
    is_evaluation_seed,
    training_seeds,
    validation_seeds,
)


def test_ranges_are_disjoint_for_every_run_seed():
    validation = set(validation_seeds(len(VALIDATION_SEEDS)))
    seen: set[int] = set()
    for run in range(MAX_RUN_SEED + 1):
        block = set(training_seeds(run, TRAINING_SEEDS_PER_RUN))
        assert not block & validation and not block & seen
        assert not any(is_evaluation_seed(s) for s in block)
        seen |= block
    assert max(seen) < EVALUATION_SEED_MIN and max(validation) < EVALUATION_SEED_MIN


def test_out_of_range_requests_raise():
    with pytest.raises(ValueError, match="evaluation seeds"):
        training_seeds(MAX_RUN_SEED + 1, 1)
    with pytest.raises(ValueError, match="evaluation seeds"):
        training_seeds(-1, 1)
    with pytest.raises(ValueError, match="at most 500"):
        training_seeds(0, TRAINING_SEEDS_PER_RUN + 1)
    with pytest.raises(ValueError, match="at most 500"):
        validation_seeds(501)


def test_standard_split_tests_on_evaluation_seeds():
    assert SYNTHETIC_TEST_SEED_OFFSET == EVALUATION_SEED_MIN
    for seed in (0, 499, 999_999):
        _, test = standard_split(f"synthetic:mmpp?seed={seed}&steps=10")
        assert test.name.endswith(f"(test seed {seed + EVALUATION_SEED_MIN})")
