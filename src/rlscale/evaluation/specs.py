"""``--policy SPEC`` strings → the runner's :class:`PolicyEntry` list, validated up front.

Every spec is parsed *and* built once for one env before any simulation starts, so a bad
spec (``hpa:target=abc``, an unknown policy, a checkpoint that does not load) fails at once
with the registry's message and nothing is written. Two names are the evaluation's own, not
policies (the registry cannot build them), and are parsed here:

* ``hpa-frontier[:lo=..,hi=..,step=..]`` expands to one ``hpa:target=T`` run per target
  (40–95 % in steps of 5 by default), the points of the cost-vs-violation frontier;
* ``oracle`` is built by the runner from the demand it computes (it needs the future load).
  It is always evaluated, added when not asked for: it is the bound every score reads against.

With SLO budgets (``budgets``), the tuned-HPA reference sweep
(:func:`rlscale.evaluation.budget.reference_specs`) is added as reference-only runs, and a
policy that takes a budget (``learned``) without one given runs once per budget
(``learned:budget=0.01``, …).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from rlscale.core.spec import ServiceSpec
from rlscale.evaluation.budget import reference_specs
from rlscale.evaluation.frontier import FRONTIER_TARGETS_PCT
from rlscale.evaluation.runner import PolicyEntry
from rlscale.policies.base import Policy
from rlscale.policies.hpa import HPA_DEFAULT_CPU_UTILIZATION_PCT
from rlscale.policies.registry import (
    HPA_PARAMS,
    POLICY_NAMES,
    ParamSpec,
    PolicySpec,
    PolicySpecError,
    build_policy,
    parse_params,
    parse_policy_spec,
    takes_budget,
)

#: The comparison ``rlscale evaluate`` runs with no ``--policy`` (issue 3: HPA default, the
#: tuned-HPA frontier, KEDA, KPA, a predictive baseline, the oracle and the shipped learned
#: policy when one exists).
DEFAULT_POLICIES: tuple[str, ...] = ("hpa", "hpa-frontier", "keda", "kpa", "predictive", "oracle", "learned")

ORACLE = "oracle"
FRONTIER = "hpa-frontier"
#: ``hpa-frontier``'s parameters: the sweep's range (default FRONTIER_TARGETS_PCT) and every
#: ``hpa`` parameter but the target.
FRONTIER_PARAMS: dict[str, ParamSpec] = {
    "lo": ParamSpec("int", "lowest target % (default 40)"),
    "hi": ParamSpec("int", "highest target % (default 95)"),
    "step": ParamSpec("int", "target step % (default 5)"),
    **{k: v for k, v in HPA_PARAMS.items() if k != "target"},
}
#: What ``--policy`` accepts besides the registry's policies.
EVALUATION_SPECS: dict[str, tuple[dict[str, ParamSpec], str]] = {
    FRONTIER: (FRONTIER_PARAMS, "HPA target sweep (the cost-vs-violation frontier)"),
    ORACLE: ({}, "clairvoyant minimum-cost plan (built from the future load)"),
}


def parse_spec(text: str) -> PolicySpec:
    """A ``--policy`` SPEC: ``hpa-frontier``/``oracle`` with their parameters, else a
    registered policy's (an unknown name's error lists both kinds)."""
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if name in EVALUATION_SPECS:
        return parse_params(name, rest, EVALUATION_SPECS[name][0])
    if text.strip() and name not in POLICY_NAMES:
        known = ", ".join([*POLICY_NAMES, *EVALUATION_SPECS])
        raise PolicySpecError(f"unknown policy '{name}'; known policies: {known}")
    return parse_policy_spec(text)


def expand_hpa_frontier(spec: PolicySpec) -> list[PolicySpec]:
    """``hpa-frontier[:lo=40,hi=95,step=5]`` → one ``hpa:target=T`` spec per target % (the
    other ``hpa`` parameters given to the frontier are passed through)."""
    if spec.name != FRONTIER:
        raise PolicySpecError(f"expand_hpa_frontier: expected an hpa-frontier spec, got '{spec.name}'")
    default = FRONTIER_TARGETS_PCT
    lo, hi, step = (
        int(spec.params.get("lo", default[0])),
        int(spec.params.get("hi", default[-1])),
        int(spec.params.get("step", default[1] - default[0])),
    )
    if not (1 <= lo <= hi and step >= 1):
        raise PolicySpecError(
            f"hpa-frontier: need 1 <= lo <= hi and step >= 1, got lo={lo}, hi={hi}, step={step}"
        )
    rest = {k: v for k, v in spec.params.items() if k not in ("lo", "hi", "step")}
    return [PolicySpec("hpa", {"target": t, **rest}) for t in range(lo, hi + 1, step)]


def _make(spec: PolicySpec, service: ServiceSpec, num_envs: int) -> Policy:
    return build_policy(spec, service, num_envs)


def _make_hpa_sweep(rest: PolicySpec, service: ServiceSpec, targets: np.ndarray) -> Policy:
    return build_policy(PolicySpec("hpa", {**rest.params, "target": targets}), service, len(targets))


def _entry(
    spec: PolicySpec,
    service: ServiceSpec,
    frontier_target: float | None = None,
    *,
    reference_only: bool = False,
) -> PolicyEntry:
    build_policy(spec, service, 1)  # fail now, not after an hour of simulation
    return PolicyEntry(
        label=str(spec),
        make=partial(_make, spec),
        frontier_target_pct=frontier_target,
        reference_only=reference_only,
        slo_budget=spec.params.get("budget") if takes_budget(spec.name) else None,
        **_batch_fields(spec),
    )


def _batch_fields(spec: PolicySpec) -> dict[str, Any]:
    """Every hpa:target=T with the same other parameters runs as one HPA with a target per env."""
    if spec.name != "hpa":
        return {}
    rest = PolicySpec("hpa", {k: v for k, v in spec.params.items() if k != "target"})
    return {
        "batch_key": str(rest),
        "batch_value": float(spec.params.get("target", HPA_DEFAULT_CPU_UTILIZATION_PCT)),
        "make_batch": partial(_make_hpa_sweep, rest),
    }


def _per_budget(spec: PolicySpec, budgets: tuple[float, ...]) -> list[PolicySpec]:
    """``spec`` once per budget when it takes one and none is given, else ``spec`` alone."""
    if not budgets or "budget" in spec.params or not takes_budget(spec.name):
        return [spec]
    return [PolicySpec(spec.name, {**spec.params, "budget": b}) for b in budgets]


def resolve_policies(
    specs: list[str] | tuple[str, ...],
    service: ServiceSpec,
    *,
    optional: frozenset[str] = frozenset(),
    budgets: tuple[float, ...] = (),
) -> tuple[list[PolicyEntry], list[str]]:
    """Parse, expand and trial-build ``specs``. Returns the entries and notes.

    Names in ``optional`` (used for the defaults' ``learned``) are skipped with a note when
    they cannot be built (no shipped model yet) instead of failing. Raises
    :class:`PolicySpecError` for anything else that is wrong.
    """
    entries: list[PolicyEntry] = []
    notes: list[str] = []
    seen: set[str] = set()

    def add(entry: PolicyEntry) -> None:
        if entry.label in seen:
            return
        seen.add(entry.label)
        entries.append(entry)

    for text in specs:
        spec = parse_spec(text)
        if spec.name == ORACLE:
            add(PolicyEntry(label=ORACLE, oracle=True))
        elif spec.name == FRONTIER:
            for sub in expand_hpa_frontier(spec):
                add(_entry(sub, service, float(sub.params["target"])))
        else:
            try:
                for sub in _per_budget(spec, tuple(budgets)):
                    add(_entry(sub, service))
            except (PolicySpecError, OSError, ValueError) as exc:
                if text.strip() in optional:
                    notes.append(f"policy {text!r} skipped: {exc}")
                    continue
                if isinstance(exc, PolicySpecError):
                    raise
                raise PolicySpecError(f"policy {text!r}: {exc}") from exc
    if budgets:  # the tuned-HPA reference chooses from these (runs already asked for are reused)
        for text in reference_specs(service):
            spec = parse_policy_spec(text)
            if str(spec) not in seen:
                add(_entry(spec, service, reference_only=True))
    if ORACLE not in seen:
        add(PolicyEntry(label=ORACLE, oracle=True))
        notes.append("the oracle was added: every score is read against it")
    if not any(e.frontier_target_pct is None and not e.oracle for e in entries) and not any(
        e.frontier_target_pct is not None for e in entries
    ):
        notes.append("only the oracle is evaluated")
    return entries, notes
