"""Batched cluster simulator (DESIGN.md §3): service parameters and presets, M/M/c queueing
in closed form, and a vectorised ``step`` over a leading ``num_envs`` axis. No Gymnasium here."""

from rlscale.sim.params import (
    KUBECOST_PRICE_CPU_CORE_HOUR,
    KUBECOST_PRICE_MEMORY_GIB_HOUR,
    ServiceParams,
)
from rlscale.sim.presets import PRESETS, get_preset, load_service, save_service
from rlscale.sim.queueing import (
    erlang_b,
    erlang_c,
    min_replicas_for_slo,
    mmc_sojourn_quantile,
    mmc_sojourn_survival,
    mmc_waiting_survival,
)
from rlscale.sim.randomization import randomize
from rlscale.sim.simulator import (
    SimState,
    StepMetrics,
    init_state,
    latency_mixture_quantile,
    latency_mixture_survival,
    latency_survival,
    reset_state,
    signals,
    step,
)

__all__ = [
    "KUBECOST_PRICE_CPU_CORE_HOUR",
    "KUBECOST_PRICE_MEMORY_GIB_HOUR",
    "PRESETS",
    "ServiceParams",
    "SimState",
    "StepMetrics",
    "erlang_b",
    "erlang_c",
    "get_preset",
    "init_state",
    "latency_mixture_quantile",
    "latency_mixture_survival",
    "latency_survival",
    "load_service",
    "min_replicas_for_slo",
    "mmc_sojourn_quantile",
    "mmc_sojourn_survival",
    "mmc_waiting_survival",
    "randomize",
    "reset_state",
    "save_service",
    "signals",
    "step",
]
