"""The fleet summary of a multi-service evaluation (issue 16): what each policy would cost and
which SLOs it would keep across every service, not on one trace.

Computed from the report dict alone (its rows, ``config.services`` and ``tuned_hpa``), so it
is the same whether the services ran in one process or as Ray tasks. Conventions:

* a service's cost is its seed-mean cost (``cost_usd.mean``); totals sum over services;
* ``savings_vs_hpa`` of a service = ``1 − cost / cost of the default HPA`` on it (0.2 = 20 %
  cheaper); its distribution is the plot and the quantiles below;
* a service keeps its SLO budget when its seed-mean violation rate is at most that service's
  ``slo_budget`` (``ServiceSpec.slo_budget``, per service with sidecars);
* per ``--slo-budget`` B: the total cost over the total cost of the tuned-HPA references
  (services where no reference keeps B are left out of both totals, and counted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The reference every saving is read against: the HPA with its defaults.
HPA_DEFAULT = "hpa"
#: How many of a policy's worst services the summary lists.
WORST_SERVICES = 5
#: Quantiles of the per-service savings that the summary reports.
SAVINGS_QUANTILES = {"p10": 0.10, "median": 0.50, "p90": 0.90}


def _mean(stat: dict[str, Any] | None) -> float | None:
    return None if not stat or stat.get("mean") is None else float(stat["mean"])


def _over_budget(violation: float, budget: float) -> float:
    """Violations in units of the service's budget (the raw rate when it has none)."""
    return violation / budget if np.isfinite(budget) and budget > 0 else violation


def fleet_summary(report: dict[str, Any]) -> dict[str, Any] | None:
    """``report["fleet"]``: one object per policy that ran on every service; None with fewer
    than two services."""
    rows = report["results"]
    services = list(dict.fromkeys(r["trace"] for r in rows))
    if len(services) < 2:
        return None
    budgets_of = report.get("config", {}).get("services", {})
    by_policy: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_policy.setdefault(r["policy"], {})[r["trace"]] = r
    hpa_cost = {t: _mean(r["cost_usd"]) for t, r in by_policy.get(HPA_DEFAULT, {}).items()}
    refs = {
        (x["trace"], x["slo_budget"]): x["reference"]["cost_usd"]
        for x in report.get("tuned_hpa", [])
        if x["reference"] is not None
    }
    out = []
    for policy, per_service in by_policy.items():
        if len(per_service) != len(services):
            continue
        cost = {t: _mean(r["cost_usd"]) or 0.0 for t, r in per_service.items()}
        violation = {t: _mean(r["slo_violation_rate"]) or 0.0 for t, r in per_service.items()}
        budget = {t: float(budgets_of.get(t, {}).get("slo_budget", np.nan)) for t in services}
        kept = [violation[t] <= budget[t] for t in services if np.isfinite(budget[t])]
        savings = {t: 1.0 - cost[t] / hpa_cost[t] for t in services if hpa_cost.get(t)}
        item: dict[str, Any] = {
            "policy": policy,
            "services": len(services),
            "total_cost_usd": sum(cost.values()),
            "cost_vs_hpa": sum(cost.values()) / sum(hpa_cost.values())
            if len(hpa_cost) == len(services) and sum(hpa_cost.values()) > 0
            else None,
            "slo_budget_kept_fraction": float(np.mean(kept)) if kept else None,
            "savings_vs_hpa": {
                k: float(np.quantile(list(savings.values()), q)) if savings else None
                for k, q in SAVINGS_QUANTILES.items()
            },
            "savings_vs_hpa_per_service": savings,
            "worst_services": [
                {
                    "trace": t,
                    "slo_violation_rate": violation[t],
                    "slo_budget": budget[t] if np.isfinite(budget[t]) else None,
                    "savings_vs_hpa": savings.get(t),
                }
                for t in sorted(services, key=lambda t: (-_over_budget(violation[t], budget[t]), -cost[t]))[
                    :WORST_SERVICES
                ]
            ],
            "budgets": [],
        }
        for b in report.get("config", {}).get("slo_budgets", []):
            with_ref = [t for t in services if (t, b) in refs]
            own = [
                next((x for x in per_service[t].get("budgets", []) if x["slo_budget"] == b), None)
                for t in services
            ]
            judged = [x for x in own if x is not None]
            if not judged:  # a policy built for another budget (learned:budget=B')
                continue
            ref_total = sum(refs[(t, b)] for t in with_ref)
            item["budgets"].append(
                {
                    "slo_budget": b,
                    "kept_fraction": float(np.mean([x["budget_kept"] for x in judged])),
                    "cost_vs_tuned_hpa": sum(cost[t] for t in with_ref) / ref_total
                    if ref_total > 0
                    else None,
                    "services_without_reference": len(services) - len(with_ref),
                }
            )
        out.append(item)
    return {"services": len(services), "reference": HPA_DEFAULT, "policies": out}


def fleet_markdown(fleet: dict[str, Any]) -> list[str]:
    """The report.md section of the fleet summary."""
    lines = [
        f"## Fleet ({fleet['services']} services)",
        "",
        "Totals over every service (seed means). Savings are per service against the default HPA "
        "(0.2 = 20 % cheaper); budget kept = share of services whose violation rate is within their "
        "own SLO budget.",
        "",
        "| policy | total cost $ | cost / HPA | budget kept | savings p10 | median | p90 | worst service |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(x: float | None, fmt: str = ".3g") -> str:
        return "—" if x is None else format(x, fmt)

    for p in fleet["policies"]:
        s = p["savings_vs_hpa"]
        worst = p["worst_services"][0] if p["worst_services"] else None
        lines.append(
            f"| {p['policy']} | {p['total_cost_usd']:.4g} | {f(p['cost_vs_hpa'])} "
            f"| {f(p['slo_budget_kept_fraction'], '.0%')} | {f(s['p10'], '.1%')} | {f(s['median'], '.1%')} "
            f"| {f(s['p90'], '.1%')} | {'—' if worst is None else worst['trace']} |"
        )
    budget_rows = [(p["policy"], b) for p in fleet["policies"] for b in p["budgets"]]
    if budget_rows:
        lines += ["", "| policy | budget % | services kept | total cost / tuned HPA |", "|---|---|---|---|"]
        for policy, b in budget_rows:
            lines.append(
                f"| {policy} | {100 * b['slo_budget']:g} | {b['kept_fraction']:.0%} "
                f"| {f(b['cost_vs_tuned_hpa'])} |"
            )
    return [*lines, ""]


def plot_fleet_savings(path: Any, fleet: dict[str, Any]) -> None:
    """Per-service savings against the default HPA, one box (and the services as dots) per
    policy: the distribution a platform team reads, not one trace's number."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = [
        p for p in fleet["policies"] if p["savings_vs_hpa_per_service"] and p["policy"] != HPA_DEFAULT
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(policies) + 2), 4.5))
    data = [100.0 * np.asarray(list(p["savings_vs_hpa_per_service"].values())) for p in policies]
    if data:
        ax.boxplot(data, showfliers=False)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, d.size), d, s=6, alpha=0.5)
        ax.set_xticks(range(1, len(policies) + 1), [p["policy"] for p in policies], rotation=30, ha="right")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylabel("saving vs default HPA per service (%)")
    ax.set_title(f"Fleet of {fleet['services']} services")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
