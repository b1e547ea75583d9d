"""Every policy × seed × window of equally long traces in one simulator batch (issue 16).

A per-policy run pays ``sim.step``'s fixed cost (~0.3 ms) once per policy per step for 10–20
envs; here one ``sim.step`` advances all of them, and each policy acts on its own slice of the
batch. Layout, policy-major so every policy's envs are one contiguous slice::

    env = p · E + offset_k + w · S + s       E = Σ_k W_k · S   (policy p, trace k, window w, seed s)

Nothing about an env depends on its neighbours in the batch: arrivals are replayed counts and
each new pod's start-up delay comes from a counter-based stream of its env (``startup_keys``), so a policy
run alone and the same policy in a batch of twenty give the same numbers (a test checks it).
The runner turns the recorded per-step arrays into results; :func:`run_batch` only simulates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlscale.core.signals import ScalingSignals
from rlscale.evaluation.progress import ProgressSink
from rlscale.policies.base import Policy
from rlscale.sim import simulator as sim
from rlscale.sim.loop import run
from rlscale.sim.params import ServiceParams
from rlscale.sim.variants import HorizontalSim

#: StepMetrics fields the metrics and timelines read; the others are not kept (a 60-day run
#: at 15 s with 70 envs is 24 M env-steps: every field kept is ~190 MB).
RECORDED_FIELDS: tuple[str, ...] = (
    "offered",
    "served",
    "dropped",
    "violating",
    "ready",
    "desired",
    "pod_seconds",
    "cpu_core_seconds",
    "cost_usd",
    "latency_p95_s",
    "latency_mean_s",
    "lat_base_s",
    "lat_width_s",
    "lat_wait_prob",
    "lat_wait_rate",
    "lat_service_rate",
)


@dataclass(frozen=True)
class PolicyGroup:
    """One policy instance acting on the batch slice ``[start, stop)`` (one entry, or several
    entries merged into one instance when their policy takes per-env parameters)."""

    policy: Policy
    start: int
    stop: int


class Recorder:
    """Per-step metrics of the whole batch, ``(T, N)`` per recorded field, filled in place."""

    def __init__(self, steps: int, num_envs: int) -> None:
        self.steps = steps
        self.arrays = {
            name: np.empty((steps, num_envs), dtype=np.int64 if name in ("ready", "desired") else np.float64)
            for name in RECORDED_FIELDS
        }

    def record(self, t: int, metrics: sim.StepMetrics) -> None:
        for name, arr in self.arrays.items():
            arr[t] = getattr(metrics, name)

    def select(self, start: int, stop: int) -> sim.StepMetrics:
        """The columns ``[start, stop)`` as a StepMetrics (fields not recorded are empty)."""
        empty = np.empty((self.steps, 0))
        return sim.StepMetrics(
            **{
                name: self.arrays[name][:, start:stop] if name in self.arrays else empty
                for name in sim.StepMetrics.field_names()
            }
        )


def run_batch(
    params: ServiceParams,
    groups: Sequence[PolicyGroup],
    rates_rps: np.ndarray,
    initial_replicas: np.ndarray,
    *,
    arrival_counts: np.ndarray | None,
    startup_keys: np.ndarray,
    initial_rate_rps: np.ndarray,
    progress: ProgressSink | None = None,
    report_every: int = 200,
) -> Recorder:
    """Step every group's policy on its slice, all envs in one ``sim.step`` per step.

    Per policy block of ``E`` envs (every policy replays the same; tiled here, never
    materialised ``P`` times): ``rates_rps`` and ``arrival_counts`` ``(T, E)`` (counts None
    only without Poisson arrivals), ``startup_keys`` ``(E,)`` (``sim.step``'s counter-based
    start-up streams), ``initial_replicas``/``initial_rate_rps`` ``(E,)`` (the warm start).
    ``progress`` gets the number of env-steps done every ``report_every`` steps.
    """
    steps, per_block = rates_rps.shape
    if params.poisson_arrivals and arrival_counts is None:
        raise ValueError("run_batch: Poisson arrivals need arrival_counts drawn per env beforehand")
    total = max(g.stop for g in groups)
    if total % per_block or sorted((g.start, g.stop) for g in groups)[0][0] != 0:
        raise ValueError(f"policy groups cover {total} envs, not a multiple of the {per_block}-env block")
    for g in groups:
        if int(g.policy.num_envs) != g.stop - g.start:
            raise ValueError(
                f"policy {g.policy.name!r} was built for {g.policy.num_envs} envs, its slice has {g.stop - g.start}"
            )
        g.policy.reset(None)
    simulator = HorizontalSim(
        params,
        rates_rps,
        initial_replicas,
        initial_rate_rps=initial_rate_rps,
        arrival_counts=arrival_counts,
        startup_keys=startup_keys,
        blocks=total // per_block,
    )
    desired = np.empty(total, dtype=np.int64)
    recorder = Recorder(steps, total)

    def act(signals: ScalingSignals) -> np.ndarray:
        for g in groups:
            desired[g.start : g.stop] = g.policy.act(_slice(signals, g.start, g.stop))
        return desired

    def record(
        t: int, signals: ScalingSignals, action: np.ndarray, metrics: sim.StepMetrics, state: sim.SimState
    ) -> None:
        recorder.record(t, metrics)
        if progress is not None and ((t + 1) % report_every == 0 or t + 1 == steps):
            progress(((t % report_every) + 1) * total)

    rng = np.random.default_rng(0)  # unused: arrivals and start-up delays are replayed
    run(simulator, act, rng, record)
    return recorder


def _slice(signals: ScalingSignals, start: int, stop: int) -> ScalingSignals:
    """A group's signals (its pod view too: the HPA reads it)."""
    if start == 0 and stop == signals.num_envs:
        return signals
    return signals.select(slice(start, stop))
