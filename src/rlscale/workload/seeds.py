"""Which seeds of a synthetic kind training may draw, and which only evaluation uses.

A synthetic kind at a seed is a trace; a policy must be judged on seeds it never trained
or was selected on. Three disjoint ranges:

=====================  ==========================================  ==============================
use                    seeds                                       who draws them
=====================  ==========================================  ==============================
training               ``[1000·r, 1000·r + 500)`` for run seed r   ``agents.data.build_windows``
validation             ``[500, 1000)``                             model selection in training
evaluation (test)      ``>= 1,000,000``                            ``standard_split`` (seed + 1e6),
                                                                   ``bench/quality.py``'s traces
=====================  ==========================================  ==============================

Run seeds 0–999 keep training below the evaluation range; the training block of run seed
``r`` and the validation block never meet (``r = 0`` trains on 0–499).
"""

from __future__ import annotations

#: The smallest evaluation seed; training and validation stay below it.
EVALUATION_SEED_MIN = 1_000_000
#: Training seeds per run seed (the block ``[1000·r, 1000·r + 500)``).
TRAINING_SEEDS_PER_RUN = 500
_RUN_STRIDE = 1000
#: Validation seeds: the upper half of run seed 0's block, shared by every run.
VALIDATION_SEEDS = range(500, 1000)
#: Largest run seed whose training block stays below :data:`EVALUATION_SEED_MIN`.
MAX_RUN_SEED = EVALUATION_SEED_MIN // _RUN_STRIDE - 1


def training_seeds(run_seed: int, count: int) -> range:
    """The ``count`` synthetic seeds training run ``run_seed`` draws its windows from."""
    if not 0 <= run_seed <= MAX_RUN_SEED:
        raise ValueError(
            f"run seed {run_seed} out of [0, {MAX_RUN_SEED}]: its synthetic training seeds would "
            f"reach the evaluation seeds (>= {EVALUATION_SEED_MIN:,})"
        )
    if not 0 <= count <= TRAINING_SEEDS_PER_RUN:
        raise ValueError(f"{count} synthetic training windows per trace; at most {TRAINING_SEEDS_PER_RUN}")
    start = run_seed * _RUN_STRIDE
    return range(start, start + count)


def validation_seeds(count: int) -> range:
    """The ``count`` synthetic seeds validation uses (the same for every run)."""
    if not 0 <= count <= len(VALIDATION_SEEDS):
        raise ValueError(f"{count} synthetic validation windows per trace; at most {len(VALIDATION_SEEDS)}")
    return VALIDATION_SEEDS[:count]


def is_evaluation_seed(seed: int) -> bool:
    """Whether ``seed`` is reserved for evaluation (never drawn by training or validation)."""
    return seed >= EVALUATION_SEED_MIN
