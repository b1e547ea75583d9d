"""Evaluation of GPU/CPU pools policies (issue 6, seed 003): ``rlscale evaluate --service pools``.

The single-service harness (:mod:`rlscale.evaluation.harness`) scores policies that return one
replica count; a pools policy returns one count per pool *and* a placement, and the service is
a :class:`rlscale.sim.pools.PoolsParams`, so pools get their own scores and report
(``report.json`` + ``report.md`` + PNGs); the steps are the one loop's
(:func:`rlscale.sim.loop.run` over :class:`rlscale.sim.variants.PoolsSim`) and the job is
``rlscale evaluate``'s (:func:`rlscale.evaluation.harness.prepare_job`). Every policy runs on the same load patterns (seed 003's ramp, spike, periodic,
random) and seeds; SLO violations count requests over the SLO or dropped.

Policies (``--policy``): ``all-gpu``, ``all-cpu``, ``balanced`` (static fleets sized for the
peak at 70 %), ``hpa-per-pool`` (a Kubernetes HPA on each pool), ``static`` (the three static
fleets) and ``learned:PATH`` (a pools checkpoint, e.g. from ``bench/pools_eval.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.core.atomic_file import publish_files
from rlscale.envs.pools import (
    DEFAULT_EPISODE_STEPS,
    DEFAULT_PEAK_RPS,
    INITIAL_REPLICAS,
    PATTERNS,
    failed_fraction,
    observe_pools,
    pattern_load,
)
from rlscale.evaluation.evaluate_config import POOLS_SERVICE as POOLS_SERVICE  # `evaluate --service pools`
from rlscale.evaluation.metrics import mean_ci95
from rlscale.evaluation.report import format_stat, report_json_text
from rlscale.policies.pools import HPAPoolsPolicy, LearnedPoolsPolicy, StaticPoolsPolicy, static_baselines
from rlscale.sim import pools as ps
from rlscale.sim.loop import run
from rlscale.sim.variants import PoolsAction, PoolsSignals, PoolsSim

REPORT_SCHEMA = "rlscale.pools_report/1"
DEFAULT_POOLS_POLICIES: tuple[str, ...] = ("all-gpu", "all-cpu", "balanced", "hpa-per-pool")

PoolsPolicy = StaticPoolsPolicy | HPAPoolsPolicy | LearnedPoolsPolicy


@dataclass
class PoolsEvalConfig:
    policies: list[str] = field(default_factory=lambda: list(DEFAULT_POOLS_POLICIES))
    patterns: list[str] = field(default_factory=lambda: list(PATTERNS))
    seeds: int = 5
    episode_steps: int = DEFAULT_EPISODE_STEPS
    peak_rps: float = DEFAULT_PEAK_RPS
    base_seed: int = 10_000
    out: Path = Path("reports/pools")
    command: str | None = None


def resolve_pools_policies(specs: list[str], params: ps.PoolsParams) -> list[tuple[str, PoolsPolicy]]:
    """``(label, policy)`` per spec; an unknown spec or a bad checkpoint raises ValueError naming it."""
    caps = (float(params.pools[0].mu_rps), float(params.pools[1].mu_rps))
    maxr = (params.pools[0].spec.max_replicas, params.pools[1].spec.max_replicas)
    statics = {p.name: p for p in static_baselines(DEFAULT_PEAK_RPS, caps, maxr)}
    out: list[tuple[str, PoolsPolicy]] = []
    for spec in specs:
        if spec == "static":
            out += list(statics.items())
        elif spec in statics:
            out.append((spec, statics[spec]))
        elif spec in ("hpa", "hpa-per-pool"):
            out.append(("hpa-per-pool", HPAPoolsPolicy(tuple(p.spec for p in params.pools))))
        elif spec.startswith("learned:"):
            path = spec.split(":", 1)[1]
            try:
                pol = LearnedPoolsPolicy(path)
            except ValueError as exc:
                raise ValueError(f"--policy {spec}: {exc}") from None
            out.append((f"learned:{Path(path).name}", pol))
        else:
            known = ["static", *statics, "hpa-per-pool", "learned:PATH"]
            raise ValueError(f"--policy {spec!r}: not a pools policy; known: {known}")
    labels = [label for label, _ in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--policy: a policy is given twice ({labels})")
    return out


@dataclass
class Episode:
    """One policy on one load: totals and the per-step timeline (for the plots)."""

    slo_violation_rate: float
    cost_usd: float
    gpu_pods: float
    cpu_pods: float
    gpu_share: float
    scaling_actions: int
    load_rps: np.ndarray
    ready: np.ndarray  # (steps, pools)
    failed: np.ndarray  # (steps,) SLO-failed fraction


class _PoolsActor:
    """Feeds each policy what a scaler could see: the static fleets nothing, the HPA its
    pools' lagged signals, the learned policy the env's observation (last step's measured
    rate and SLO-failed fraction); also the loop's recorder of the episode's timeline."""

    def __init__(self, params: ps.PoolsParams, policy: PoolsPolicy, load_rps: np.ndarray) -> None:
        self.params, self.policy, self.load_rps = params, policy, load_rps
        steps = load_rps.size
        self.ready = np.zeros((steps, params.num_pools))
        self.failed = np.zeros(steps)
        self.gpu_share = 0.0
        self.actions = 0
        self._previous: np.ndarray | None = None

    def __call__(self, sig: PoolsSignals) -> PoolsAction:
        t, policy, load = sig.t, self.policy, self.load_rps
        if isinstance(policy, StaticPoolsPolicy):
            desired, placement = policy.act(np.array([load[t]]))
        elif isinstance(policy, HPAPoolsPolicy):
            desired, placement = policy.act(sig.per_pool)
        else:
            current = np.array([[int(s.desired[0]) for s in sig.state.states]], dtype=np.int64)
            last_failed = self.failed[t - 1 : t] if t > 0 else np.zeros(1)
            obs = observe_pools(self.params, sig.state, load, t, last_failed)
            desired, placement = policy.act(obs, current)
        if self._previous is not None and not np.array_equal(desired, self._previous):
            self.actions += 1
        self._previous = desired.copy()
        return desired, placement

    def record(
        self, t: int, sig: PoolsSignals, action: PoolsAction, m: ps.PoolsMetrics, state: ps.PoolsState
    ) -> None:
        self.failed[t] = failed_fraction(m)[0]
        self.ready[t] = [float(s.ready[0]) for s in state.states]
        self.gpu_share += float(m.weights[0, 0])


def run_episode(params: ps.PoolsParams, policy: PoolsPolicy, load_rps: np.ndarray, seed: int) -> Episode:
    """Step the pools simulator under ``policy`` (:func:`rlscale.sim.loop.run`)."""
    policy.reset()
    actor = _PoolsActor(params, policy, load_rps)
    simulator = PoolsSim(params, load_rps, INITIAL_REPLICAS)
    totals = run(simulator, actor, np.random.default_rng(seed), actor.record).totals
    return Episode(
        slo_violation_rate=totals.violation_rate,
        cost_usd=float(totals.cost_usd.sum()),
        gpu_pods=float(actor.ready[:, 0].mean()),
        cpu_pods=float(actor.ready[:, 1].mean()),
        gpu_share=actor.gpu_share / simulator.steps,
        scaling_actions=actor.actions,
        load_rps=np.asarray(load_rps, dtype=np.float64),
        ready=actor.ready,
        failed=actor.failed,
    )


METRICS: tuple[str, ...] = (
    "slo_violation_rate",
    "cost_usd",
    "gpu_pods",
    "cpu_pods",
    "gpu_share",
    "scaling_actions",
)


def check_pools_config(config: PoolsEvalConfig, params: ps.PoolsParams) -> list[tuple[str, PoolsPolicy]]:
    """The resolved policies, or ValueError naming the bad option (before any step runs)."""
    if config.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {config.seeds}")
    if config.episode_steps < 2:
        raise ValueError(f"episode steps must be >= 2, got {config.episode_steps}")
    unknown = set(config.patterns) - set(PATTERNS)
    if unknown or not config.patterns:
        raise ValueError(f"--trace: unknown pools load pattern(s) {sorted(unknown)}; known: {list(PATTERNS)}")
    return resolve_pools_policies(config.policies, params)


def evaluate_pools(
    config: PoolsEvalConfig, params: ps.PoolsParams | None = None
) -> tuple[dict[str, Any], dict[tuple[str, str], Episode]]:
    """Every policy × pattern × seed; returns the report dict and the seed-0 episode of each
    (policy, pattern) for the timelines. Bad input raises ValueError before any step runs."""
    params = params or ps.pools_preset()
    policies = check_pools_config(config, params)
    rows: list[dict[str, Any]] = []
    timelines: dict[tuple[str, str], Episode] = {}
    overall: dict[str, dict[str, list[float]]] = {}
    for pattern in config.patterns:
        loads = [
            pattern_load(pattern, config.episode_steps, config.peak_rps, config.base_seed + s, params.step_s)
            for s in range(config.seeds)
        ]
        for label, policy in policies:
            per: dict[str, list[float]] = {k: [] for k in METRICS}
            for s, load in enumerate(loads):
                ep = run_episode(params, policy, load, config.base_seed + s)
                for k in METRICS:
                    per[k].append(float(getattr(ep, k)))
                    overall.setdefault(label, {m: [] for m in METRICS})[k].append(float(getattr(ep, k)))
                if s == 0:
                    timelines[(label, pattern)] = ep
            rows.append({"pattern": pattern, "policy": label, **{k: mean_ci95(v) for k, v in per.items()}})
    for label, per in overall.items():
        rows.append({"pattern": "all", "policy": label, **{k: mean_ci95(v) for k, v in per.items()}})
    report = {
        "schema": REPORT_SCHEMA,
        "service": {
            "preset": POOLS_SERVICE,
            "pools": [
                {
                    "name": name,
                    "pod_capacity_rps": float(p.mu_rps),
                    "price_usd_hour": params.pod_price_usd_hour(i),
                    "startup_delay_s": [float(p.startup_delay_min_s), float(p.startup_delay_max_s)],
                    "max_replicas": p.spec.max_replicas,
                }
                for i, (name, p) in enumerate(zip(params.names, params.pools, strict=True))
            ],
            "slo_latency_s": params.slo_latency_s,
            "step_s": params.step_s,
        },
        "config": {
            "command": config.command,
            "policies": [label for label, _ in policies],
            "patterns": list(config.patterns),
            "seeds": config.seeds,
            "base_seed": config.base_seed,
            "episode_steps": config.episode_steps,
            "peak_rps": config.peak_rps,
        },
        "results": rows,
    }
    return report, timelines


def pools_markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        "# Pools (GPU/CPU): policies on seed 003's load patterns",
        "",
        f"{cfg['seeds']} seeds per pattern, {cfg['episode_steps']} steps of {report['service']['step_s']:g} s, "
        f"peak {cfg['peak_rps']:g} req/s, SLO {report['service']['slo_latency_s']:g} s. Mean ± 95 % CI.",
        "",
    ]
    if cfg.get("command"):
        lines += [f"Command: `{cfg['command']}`", ""]
    lines += [
        "| pattern | policy | SLO violation rate | cost $ | GPU pods | CPU pods | GPU share | scaling actions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        v, c = r["slo_violation_rate"], r["cost_usd"]
        lines.append(
            f"| {r['pattern']} | {r['policy']} | {format_stat(v)} | {format_stat(c)} "
            f"| {r['gpu_pods']['mean']:.2f} | {r['cpu_pods']['mean']:.2f} | {r['gpu_share']['mean']:.2f} "
            f"| {r['scaling_actions']['mean']:.1f} |"
        )
    lines += ["", "Plots: `tradeoff.png` (cost vs violations), `timeline_<pattern>.png` (seed 0)."]
    return "\n".join(lines) + "\n"


def _plot_tradeoff(path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    markers = dict(zip([*PATTERNS, "all"], ["o", "s", "^", "D", "*"], strict=True))
    policies = list(dict.fromkeys(r["policy"] for r in report["results"]))
    colors = {p: f"C{i}" for i, p in enumerate(policies)}
    for r in report["results"]:
        ax.scatter(
            100 * r["slo_violation_rate"]["mean"],
            r["cost_usd"]["mean"],
            marker=markers.get(r["pattern"], "o"),
            color=colors[r["policy"]],
            s=80 if r["pattern"] == "all" else 30,
            label=f"{r['policy']}" if r["pattern"] == "all" else None,
        )
    ax.set_xlabel("SLO violations (% of requests)")
    ax.set_ylabel("cost per episode ($)")
    ax.set_title("pools: cost vs violations (star = all patterns; o ramp, □ spike, △ periodic, ◇ random)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_timeline(path: Path, pattern: str, episodes: dict[str, Episode], step_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True)
    first = next(iter(episodes.values()))
    minutes = np.arange(first.load_rps.size) * step_s / 60.0
    axes[0].plot(minutes, first.load_rps, color="black", lw=1)
    axes[0].set_ylabel("load (req/s)")
    for label, ep in episodes.items():
        axes[1].step(minutes, ep.ready[:, 0], where="post", label=label, lw=1)
        axes[2].step(minutes, ep.ready[:, 1], where="post", label=label, lw=1)
        axes[3].plot(minutes, 100 * ep.failed, label=label, lw=1)
    axes[1].set_ylabel("GPU pods ready")
    axes[2].set_ylabel("CPU pods ready")
    axes[3].set_ylabel("SLO-failed %")
    axes[3].set_xlabel("time (min)")
    axes[1].legend(fontsize=7, ncol=3, loc="upper left")
    axes[0].set_title(f"pools, pattern {pattern} (seed 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_pools_report(
    out: str | os.PathLike[str], report: dict[str, Any], timelines: dict[tuple[str, str], Episode]
) -> tuple[dict[str, Any], Path]:
    """``report.json``, ``report.md``, ``tradeoff.png`` and one ``timeline_<pattern>.png`` per
    pattern into ``out``, whole or not at all (a temporary folder beside it, then
    :func:`~rlscale.core.atomic_file.publish_files`, which also removes an older report's
    plots); returns the report as written (with its ``plots``) and the report.json path."""
    root = Path(out)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        step_s = float(report["service"]["step_s"])
        plots: list[str] = []
        for pattern in report["config"]["patterns"]:
            eps = {label: ep for (label, pat), ep in timelines.items() if pat == pattern}
            if eps:
                name = f"timeline_{pattern}.png"
                _plot_timeline(tmp / name, pattern, eps, step_s)
                plots.append(name)
        _plot_tradeoff(tmp / "tradeoff.png", report)
        plots.append("tradeoff.png")
        report = {**report, "plots": plots}
        (tmp / "report.json").write_text(report_json_text(report), encoding="utf-8")
        (tmp / "report.md").write_text(pools_markdown(report), encoding="utf-8")
        publish_files(tmp, root, last="report.json", owned=_POOLS_PLOT_FILE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report, root / "report.json"


#: The plot files ``write_pools_report`` owns in its folder: an older report's are removed.
_POOLS_PLOT_FILE = re.compile(r"^(timeline_.+|tradeoff)\.png$")
