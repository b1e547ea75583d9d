"""The evaluation's own spec names (issue 12): ``hpa-frontier`` and ``oracle`` are parsed and
expanded by evaluation.specs, not the policy registry, with every CLI spelling kept."""

from __future__ import annotations

import pytest

from rlscale.evaluation.specs import expand_hpa_frontier, parse_spec, resolve_policies
from rlscale.policies.registry import PolicySpec, PolicySpecError
from rlscale.sim.presets import get_preset

WEB = get_preset("web").spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oracle", PolicySpec("oracle", {})),
        (" Oracle ", PolicySpec("oracle", {})),
        ("hpa-frontier", PolicySpec("hpa-frontier", {})),
        ("hpa-frontier:lo=50,hi=90,step=20", PolicySpec("hpa-frontier", {"lo": 50, "hi": 90, "step": 20})),
        ("hpa:target=60", PolicySpec("hpa", {"target": 60.0})),
    ],
)
def test_parse(text: str, expected: PolicySpec) -> None:
    assert parse_spec(text) == expected


def test_errors_name_the_problem() -> None:
    with pytest.raises(PolicySpecError, match=r"^oracle: unknown parameter 'x'; valid parameters: \(none\)$"):
        parse_spec("oracle:x=1")
    with pytest.raises(PolicySpecError, match="hpa-frontier: parameter 'lo' must be an integer, got 'a'"):
        parse_spec("hpa-frontier:lo=a")
    with pytest.raises(PolicySpecError, match="hpa-frontier: unknown parameter 'target'"):
        parse_spec("hpa-frontier:target=60")
    with pytest.raises(
        PolicySpecError, match=r"unknown policy 'nope'; known policies: hpa, .*hpa-frontier, oracle"
    ):
        parse_spec("nope")
    with pytest.raises(PolicySpecError, match="need 1 <= lo <= hi"):
        resolve_policies(["hpa-frontier:lo=90,hi=50"], WEB)


def test_frontier_expansion() -> None:
    specs = expand_hpa_frontier(parse_spec("hpa-frontier"))
    assert [s.params["target"] for s in specs] == list(range(40, 96, 5))
    custom = expand_hpa_frontier(parse_spec("hpa-frontier:lo=50,hi=70,step=10,behavior=default"))
    assert [str(s) for s in custom] == [
        "hpa:target=50,behavior=default",
        "hpa:target=60,behavior=default",
        "hpa:target=70,behavior=default",
    ]


def test_resolve_keeps_every_spelling() -> None:
    entries, _ = resolve_policies(["hpa-frontier:lo=50,hi=60,step=10", "oracle", "kpa"], WEB)
    assert [(e.label, e.frontier_target_pct, e.oracle) for e in entries] == [
        ("hpa:target=50", 50.0, False),
        ("hpa:target=60", 60.0, False),
        ("oracle", None, True),
        ("kpa", None, False),
    ]
