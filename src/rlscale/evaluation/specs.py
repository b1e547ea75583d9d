"""``--policy SPEC`` strings → the runner's :class:`PolicyEntry` list, validated up front.

Every spec is parsed *and* built once for one env before any simulation starts, so a bad
spec (``hpa:target=abc``, an unknown policy, a checkpoint that does not load) fails at once
with the registry's message and nothing is written. Two names are special here:

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

from rlscale.core.spec import ServiceSpec
from rlscale.evaluation.budget import reference_specs
from rlscale.evaluation.runner import PolicyEntry
from rlscale.policies.base import Policy
from rlscale.policies.registry import (
    PolicySpec,
    PolicySpecError,
    build_policy,
    expand_hpa_frontier,
    parse_policy_spec,
    takes_budget,
)

#: The comparison ``rlscale evaluate`` runs with no ``--policy`` (issue 3: HPA default, the
#: tuned-HPA frontier, KEDA, KPA, a predictive baseline, the oracle and the shipped learned
#: policy when one exists).
DEFAULT_POLICIES: tuple[str, ...] = ("hpa", "hpa-frontier", "keda", "kpa", "predictive", "oracle", "learned")

ORACLE = "oracle"
FRONTIER = "hpa-frontier"


def _make(spec: PolicySpec, service: ServiceSpec, num_envs: int) -> Policy:
    return build_policy(spec, service, num_envs)


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
    )


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
        spec = parse_policy_spec(text)
        if spec.name == ORACLE:
            if spec.params:
                raise PolicySpecError(f"oracle takes no parameters, got {text!r}")
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
