"""``report.json``, ``report.md`` and the PNG plots of an evaluation (issue 3 item 4).

``report.json`` has a stable schema that other tooling reads::

    {"schema_version": 1, "service": {...}, "seeds": n, "config": {...},
     "results": [{"policy", "trace", "windows", "steps_per_window",
                  "slo_violation_rate": {"mean", "ci95"}, "p50_latency_s": {...}, "p95_latency_s": {...},
                  "p99_latency_s": {...}, "pod_hours": {...}, "cpu_core_hours": {...}, "cost_usd": {...},
                  "avg_replicas": {...}, "scaling_actions_per_hour": {...},
                  "theta_u", "theta_o", "tau_u", "tau_o", "instability", "jitter",
                  "cost_vs_hpa_frontier", "cost_vs_oracle", "hpa_oracle_gap_closed",
                  "budgets": [{"slo_budget", "budget_kept", "seeds_kept", "cost_vs_tuned_hpa": {...},
                               "tuned_hpa_policy"}],
                  "notes": [...]}],
     "frontiers": [{"trace", "points": [{"target_pct", "slo_violation_rate", "cost_usd", "pareto"}]}],
     "tuned_hpa": [{"trace", "slo_budget", "reference": {"policy", "slo_violation_rate", "cost_usd"} | null}],
     "units": {...}, "notes": [...]}

``budgets`` and ``tuned_hpa`` are empty without ``--slo-budget`` (evaluation.budget).

Every metric is ``{"mean": float|null, "ci95": float|null}`` where ``ci95`` is the half-width
of the 95 % Student-t interval over seeds (null with one seed or when undefined).

Everything is written into a temporary directory next to the destination first and moved
into place only once every file exists, so a failure (a plot that cannot be drawn, a full
disk) never leaves a partial report, and ``report.json`` is moved last so a reader that
sees it sees a complete report.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from rlscale.core.atomic_file import publish_files
from rlscale.evaluation.budget import TunedReference, budget_object, reference_labels, tuned_reference
from rlscale.evaluation.fleet import fleet_markdown, plot_fleet_savings
from rlscale.evaluation.metrics import mean_ci95
from rlscale.evaluation.results import METRIC_KEYS, METRIC_UNITS, SCORE_KEYS, PolicyResult
from rlscale.evaluation.scoring import ORACLE_POLICY, frontier_summary, score_result

SCHEMA_VERSION = 1
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FLEET_PLOT = "fleet_savings.png"
#: Traces that get their own frontier and timeline plots (the fleet plot covers every service).
MAX_TRACE_PLOTS = 12

ORACLE_EXPLANATION = (
    "**The oracle** is clairvoyant: it knows every window's arrival rate in advance. For each step "
    "it computes the demand, the fewest replicas whose M/M/c latency model (the simulator's own) keeps "
    "the share of requests over the SLO at or below the per-step target stated in the config "
    "(`queueing.min_replicas_for_slo`), then plans the cheapest schedule that has that many pods "
    "*ready* at every step, launching each scale-up one start-up delay ahead "
    "(`policies.plan_oracle_schedule`), and replays it. No real scaler can be cheaper at the same "
    "violation rate, so it marks the physical limit every other result is read against. The same "
    "demand is the `d_t` of the SPEC RG elasticity metrics (θ, τ, instability, jitter)."
)

SCORE_EXPLANATION = (
    "`cost_vs_hpa_frontier` = policy cost / cost of the Pareto-optimal HPA sweep (targets 40–95 %) "
    "interpolated at the policy's violation rate (below the frontier's fewest violations: the cost of "
    "that setting; above its most: null). `cost_vs_oracle` = policy cost / oracle cost. "
    "`hpa_oracle_gap_closed` = (frontier cost − policy cost) / (frontier cost − oracle cost): 1 means "
    "as cheap as the oracle, 0 no better than a tuned HPA. Seeds are paired (common random numbers), "
    "so scores are computed per seed and then averaged."
)


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    return s[:60] or "trace"


def plot_slugs(traces: list[str]) -> dict[str, str]:
    """A file-name slug per trace, distinct within one report: a slug two traces share (60
    characters of two long paths alike, or ``a b`` and ``a_b``) gets a hash of the full name,
    so one trace's plots never overwrite another's."""
    slugs = {t: _slug(t) for t in traces}
    taken = Counter(slugs.values())
    return {
        t: s if taken[s] == 1 else f"{s[:51]}-{hashlib.sha1(t.encode()).hexdigest()[:8]}"
        for t, s in slugs.items()
    }


#: The plot files ``write_report`` owns in a report folder: an older report's are removed.
_PLOT_FILE = re.compile(r"^(frontier|timeline)_.+\.png$")


def _stat_dict(values: np.ndarray) -> dict[str, float | None]:
    return mean_ci95(values)


def build_report(
    *,
    service: dict[str, Any],
    seeds: int,
    results: list[PolicyResult],
    config: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    budgets: list[float] | None = None,
    reference_policies: set[str] | None = None,
) -> dict[str, Any]:
    """The report.json dict: one row per (policy, trace) outside the HPA and reference sweeps,
    frontiers, the tuned-HPA reference per (trace, budget), notes."""
    for r in results:
        if r.seeds != seeds:
            raise ValueError(
                f"build_report: {r.policy!r} on {r.trace!r} has {r.seeds} seeds, expected {seeds}"
            )
    traces = list(dict.fromkeys(r.trace for r in results))
    budgets = list(budgets or [])
    references: dict[tuple[str, float], TunedReference | None] = {
        (t, b): tuned_reference(reference_labels(results, t, set(reference_policies or ())), b)
        for t in traces
        for b in budgets
    }
    rows: list[dict[str, Any]] = []
    for r in results:
        if r.frontier_target_pct is not None or r.reference_only:
            continue
        row: dict[str, Any] = {
            "policy": r.policy,
            "trace": r.trace,
            "windows": r.windows,
            "steps_per_window": r.steps_per_window,
        }
        for key in METRIC_KEYS:
            row[key] = _stat_dict(r.per_seed[key])
        scores, score_notes = score_result(r, results)
        for key in SCORE_KEYS:
            row[key] = scores[key]
        own = budgets if r.slo_budget is None else [b for b in budgets if b == r.slo_budget]
        row["budgets"] = [budget_object(r, b, references[(r.trace, b)]) for b in own]
        row["notes"] = list(r.notes) + score_notes
        rows.append(row)
    frontiers = [
        {"trace": t, "points": frontier_summary(results, t)}
        for t in traces
        if any(r.trace == t and r.frontier_target_pct is not None for r in results)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "service": service,
        "seeds": int(seeds),
        "config": dict(config or {}),
        "results": rows,
        "frontiers": frontiers,
        "tuned_hpa": [
            {"trace": t, "slo_budget": b, "reference": None if ref is None else ref.to_dict()}
            for (t, b), ref in references.items()
        ],
        "units": dict(METRIC_UNITS),
        "notes": list(notes or []),
    }


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"report.json: cannot serialise {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """Replace NaN/inf with None: report.json must be strict JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return None
    return obj


def report_json_text(report: dict[str, Any]) -> str:
    return json.dumps(_clean(report), indent=2, default=_json_default, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def format_stat(stat: dict[str, float | None] | None, scale: float = 1.0, digits: int = 3) -> str:
    """``mean ± ci95`` of a ``mean_ci95`` dict (times ``scale``); the mean alone where no
    interval exists (one seed), "—" where there is no mean."""
    if not stat or stat.get("mean") is None:
        return "—"
    mean = float(stat["mean"] or 0.0) * scale
    ci = stat.get("ci95")
    if ci is None:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {float(ci) * scale:.2g}"


def _budget_lines(report: dict[str, Any], trace: str, rows: list[dict[str, Any]]) -> list[str]:
    """The budget view of one trace: the tuned-HPA reference per budget, then per policy
    whether it kept the budget and its cost against that reference."""
    refs = [x for x in report.get("tuned_hpa", []) if x["trace"] == trace]
    if not refs:
        return []
    lines = [
        "SLO budgets: the tuned-HPA reference is the cheapest HPA target (10–95 %) or static count "
        "that keeps the budget on this trace, chosen in hindsight.",
        "",
    ]
    lines.append("| budget % | tuned-HPA reference | its violations % | its cost $ |")
    lines.append("|---|---|---|---|")
    for x in refs:
        ref = x["reference"]
        cells = (
            [ref["policy"], f"{100 * ref['slo_violation_rate']:.3g}", f"{ref['cost_usd']:.3g}"]
            if ref
            else ["none keeps it", "", ""]
        )
        lines.append(f"| {100 * x['slo_budget']:g} | " + " | ".join(cells) + " |")
    lines += ["", "| policy | budget % | kept | seeds kept | cost / tuned HPA |", "|---|---|---|---|---|"]
    for r in rows:
        for b in r.get("budgets", []):
            lines.append(
                f"| {r['policy']} | {100 * b['slo_budget']:g} | {'yes' if b['budget_kept'] else 'no'} "
                f"| {b['seeds_kept']:.0%} | {format_stat(b['cost_vs_tuned_hpa'])} |"
            )
    return [*lines, ""]


def render_markdown(report: dict[str, Any], plot_files: dict[str, list[str]] | None = None) -> str:
    plot_files = plot_files or {}
    svc = report.get("service", {})
    cfg = report.get("config", {})
    lines: list[str] = ["# rlscale evaluation report", ""]
    lines.append(
        f"Service **{svc.get('name', '?')}**: {svc.get('pod_capacity_rps', '?')} req/s per pod, "
        f"SLO {svc.get('slo_latency_s', '?')} s, {svc.get('min_replicas', '?')}–{svc.get('max_replicas', '?')} "
        f"replicas, {svc.get('step_s', '?')} s steps, start-up {svc.get('startup_delay_s', '?')} s. "
        f"Seeds: {report.get('seeds')}. Values are mean ± 95 % CI half-width over seeds."
    )
    lines.append("")
    if report.get("fleet"):
        lines += fleet_markdown(report["fleet"])
        if plot_files:
            lines += [f"![per-service savings]({FLEET_PLOT})", ""]
    traces = list(dict.fromkeys(r["trace"] for r in report["results"]))
    for trace in traces:
        rows = [r for r in report["results"] if r["trace"] == trace]
        lines += [f"## Trace `{trace}`", ""]
        if rows:
            lines.append(
                f"{rows[0].get('windows', 1)} window(s) of {rows[0].get('steps_per_window', '?')} steps."
            )
            lines.append("")
        lines.append(
            "| policy | SLO violations % | p95 s | p99 s | cost $ | pod-h | avg replicas | actions/h "
            "| cost / HPA frontier | cost / oracle | gap closed |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append(
                f"| {r['policy']} | {format_stat(r['slo_violation_rate'], 100)} | {format_stat(r['p95_latency_s'])} "
                f"| {format_stat(r['p99_latency_s'])} | {format_stat(r['cost_usd'])} | {format_stat(r['pod_hours'])} "
                f"| {format_stat(r['avg_replicas'])} | {format_stat(r['scaling_actions_per_hour'])} "
                f"| {format_stat(r['cost_vs_hpa_frontier'])} | {format_stat(r['cost_vs_oracle'])} "
                f"| {format_stat(r['hpa_oracle_gap_closed'])} |"
            )
        lines += ["", "SPEC RG elasticity against the oracle's demand:", ""]
        lines.append("| policy | θ_U % | θ_O % | τ_U % | τ_O % | instability % | jitter /h |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append(
                f"| {r['policy']} | {format_stat(r['theta_u'])} | {format_stat(r['theta_o'])} | {format_stat(r['tau_u'])} "
                f"| {format_stat(r['tau_o'])} | {format_stat(r['instability'])} | {format_stat(r['jitter'])} |"
            )
        lines.append("")
        lines += _budget_lines(report, trace, rows)
        fronts = [f for f in report.get("frontiers", []) if f["trace"] == trace]
        if fronts:
            lines += ["HPA target sweep (the frontier is the Pareto-optimal subset):", ""]
            lines.append("| HPA target % | SLO violations % | cost $ | Pareto |")
            lines.append("|---|---|---|---|")
            for p in fronts[0]["points"]:
                lines.append(
                    f"| {p['target_pct']:g} | {format_stat(p['slo_violation_rate'], 100)} | {format_stat(p['cost_usd'])} "
                    f"| {'yes' if p['pareto'] else ''} |"
                )
            lines.append("")
        for f in plot_files.get(trace, []):
            lines += [f"![{f}]({f})", ""]
        row_notes = [(r["policy"], n) for r in rows for n in r.get("notes", [])]
        if row_notes:
            lines += ["Notes:", ""]
            lines += [f"- {p}: {n}" for p, n in row_notes]
            lines.append("")
    lines += ["## How to read this", "", ORACLE_EXPLANATION, "", SCORE_EXPLANATION, ""]
    if report.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    lines += ["## Reproduce", ""]
    cmd = cfg.get("command")
    if cmd:
        lines += ["```", str(cmd), "```", ""]
    lines.append("Configuration:")
    lines += ["", "```json", json.dumps(_clean(cfg), indent=2, default=_json_default), "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def plot_timeline(path: Path, results: list[PolicyResult], slo_latency_s: float, title: str) -> None:
    """Load, ready replicas (with the oracle's demand) and p95 latency per policy, one window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_tl = [r for r in results if r.timeline is not None and r.frontier_target_pct is None]
    if not with_tl:
        raise ValueError(f"plot_timeline: no timeline for {title!r}")
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    first = with_tl[0].timeline
    assert first is not None
    hours = first.time_s / 3600.0
    axes[0].plot(hours, first.arrival_rate_rps, color="black", lw=1)
    axes[0].set_ylabel("load (req/s)")
    axes[1].step(
        hours, first.demand_replicas, where="post", color="black", ls="--", lw=1, label="demand (oracle)"
    )
    for r in with_tl:
        tl = r.timeline
        assert tl is not None
        style = {"lw": 2.0, "color": "black"} if r.policy == ORACLE_POLICY else {"lw": 1.0}
        axes[1].step(tl.time_s / 3600.0, tl.ready_replicas, where="post", label=r.policy, **style)
        lat = np.where(np.isfinite(tl.latency_p95_s), tl.latency_p95_s, np.nan)
        axes[2].plot(tl.time_s / 3600.0, lat, label=r.policy, **style)
    axes[1].set_ylabel("ready replicas")
    axes[1].legend(fontsize=7, ncol=3, loc="upper left")
    axes[2].axhline(slo_latency_s, color="red", ls=":", lw=1, label="SLO")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("p95 latency (s)")
    axes[2].set_xlabel("time (h)")
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_frontier(path: Path, report: dict[str, Any], trace: str) -> None:
    """Cost vs SLO violations: the HPA sweep (Pareto frontier as a line) and every policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # distinct colours for up to 20 policies
    fronts = [f for f in report.get("frontiers", []) if f["trace"] == trace]
    if fronts:
        pts = fronts[0]["points"]
        xs = [100 * (p["slo_violation_rate"]["mean"] or 0.0) for p in pts]
        ys = [p["cost_usd"]["mean"] or 0.0 for p in pts]
        ax.scatter(xs, ys, color="grey", s=18, label="HPA target sweep")
        for p, x, y in zip(pts, xs, ys, strict=True):
            ax.annotate(
                f"{p['target_pct']:g}%",
                (x, y),
                fontsize=6,
                color="grey",
                xytext=(3, 3),
                textcoords="offset points",
            )
        par = sorted([(x, y) for p, x, y in zip(pts, xs, ys, strict=True) if p["pareto"]], key=lambda t: t[0])
        if par:
            ax.plot([t[0] for t in par], [t[1] for t in par], color="grey", lw=1.5, label="HPA frontier")
    for r in (r for r in report["results"] if r["trace"] == trace):
        v, c = r["slo_violation_rate"], r["cost_usd"]
        if v["mean"] is None or c["mean"] is None:
            continue
        is_oracle = r["policy"] == ORACLE_POLICY
        ax.errorbar(
            100 * v["mean"],
            c["mean"],
            xerr=None if v["ci95"] is None else 100 * v["ci95"],
            yerr=c["ci95"],
            fmt="*" if is_oracle else "o",
            ms=14 if is_oracle else 6,
            color="black" if is_oracle else None,
            capsize=3,
            label=f"{r['policy']} (lower bound)" if is_oracle else r["policy"],
        )
    for x in (x for x in report.get("tuned_hpa", []) if x["trace"] == trace):
        ax.axvline(100 * x["slo_budget"], color="red", ls=":", lw=1)
        ref = x["reference"]
        if ref is not None:
            ax.scatter(
                [100 * ref["slo_violation_rate"]],
                [ref["cost_usd"]],
                marker="D",
                s=40,
                facecolors="none",
                edgecolors="red",
                label=f"tuned HPA for {100 * x['slo_budget']:g} %: {ref['policy']}",
            )
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("SLO violations (% of requests)")
    ax.set_ylabel("cost (USD)")
    ax.set_title(f"cost vs SLO violations — {trace}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Atomic write
# --------------------------------------------------------------------------------------------


def write_report(
    out_dir: Path | str,
    report: dict[str, Any],
    results: list[PolicyResult],
    *,
    plots: bool = True,
) -> Path:
    """Write report.json, report.md and the plots into ``out_dir`` all-or-nothing.

    Files go into a temporary directory beside ``out_dir``; on success they are published
    into ``out_dir`` (:func:`~rlscale.core.atomic_file.publish_files`: report.json last, an
    older report's plots removed). On any error the temporary directory is removed and
    ``out_dir`` is left exactly as it was. Returns the path of report.json.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        plot_files: dict[str, list[str]] = {}
        if plots:
            slo = float(report.get("service", {}).get("slo_latency_s", 1.0))
            # a fleet of hundreds of services: its first traces get plots, the fleet plot the rest
            traces = list(dict.fromkeys(r["trace"] for r in report["results"]))[:MAX_TRACE_PLOTS]
            for trace, slug in plot_slugs(traces).items():
                files: list[str] = []
                fname = f"frontier_{slug}.png"
                plot_frontier(tmp / fname, report, trace)
                files.append(fname)
                trace_results = [r for r in results if r.trace == trace]
                if any(r.timeline is not None for r in trace_results):
                    fname = f"timeline_{slug}.png"
                    plot_timeline(tmp / fname, trace_results, slo, f"{trace}: first window, first seed")
                    files.append(fname)
                plot_files[trace] = files
            if report.get("fleet"):
                plot_fleet_savings(tmp / FLEET_PLOT, report["fleet"])
        (tmp / REPORT_MD).write_text(render_markdown(report, plot_files), encoding="utf-8")
        (tmp / REPORT_JSON).write_text(report_json_text(report), encoding="utf-8")
        publish_files(tmp, out, last=REPORT_JSON, owned=_PLOT_FILE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / REPORT_JSON
