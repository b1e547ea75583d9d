"""PromQL templates: ``$namespace``, ``$deployment``, ``$window`` and ``$slo_latency`` filled in
with ``string.Template`` (so PromQL's braces need no escaping), and the checks that make a bad
template fail at start-up, naming its field, rather than as a Prometheus error at the first
read. The live signal queries and calibration's history queries are both such templates."""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from dataclasses import fields
from typing import Any

#: The placeholders a template may use.
PLACEHOLDERS = frozenset({"namespace", "deployment", "window", "slo_latency"})
#: A Prometheus duration (``30s``, ``1m``, ``1h30m``; prometheus/common model.ParseDuration).
PROMETHEUS_DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"


def render_query(
    template: str | None, namespace: str, deployment: str, window: str, slo_latency_s: float | None = None
) -> str | None:
    """A PromQL template with ``$namespace``, ``$deployment``, ``$window`` and ``$slo_latency``
    substituted (``string.Template``, so PromQL's braces need no escaping); None stays None.
    ``$slo_latency`` is written as the Python Prometheus client writes a bucket's ``le`` label
    (``0.2``, ``1.0``); a template that uses it without an SLO is refused by name."""
    if template is None:
        return None
    values = {"namespace": namespace, "deployment": deployment, "window": window}
    if slo_latency_s is not None:
        values["slo_latency"] = repr(float(slo_latency_s))
    try:
        return string.Template(template).substitute(values)
    except KeyError as exc:
        raise ValueError(f"query {template!r} uses ${exc.args[0]} but no value was given for it") from None


def check_query_templates(queries: Any, required: Collection[str]) -> None:
    """Reject a bad ``window`` or PromQL template in a dataclass of queries (every field but
    ``window``), naming the class and field: a missing required query, an empty string, an
    unknown ``$placeholder`` or unbalanced brackets, so a typo fails at start-up and not as a
    Prometheus error at the first read."""
    owner = type(queries).__name__
    if not re.match(PROMETHEUS_DURATION, queries.window):
        raise ValueError(f"{owner}.window: {queries.window!r} is not a Prometheus duration (e.g. 30s, 1m)")
    for f in fields(queries):
        if f.name == "window":
            continue
        value = getattr(queries, f.name)
        if value is None:
            if f.name in required:
                raise ValueError(f"{owner}.{f.name}: a query is required")
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{owner}.{f.name}: must be a non-empty PromQL string, got {value!r}")
        try:
            names = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(value)}
        except (ValueError, AttributeError):
            names = set()
        names.discard(None)
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"{owner}.{f.name}: unknown placeholder(s) {sorted('$' + n for n in unknown)}; "
                f"known: $namespace, $deployment, $window, $slo_latency"
            )
        if value.count("(") != value.count(")") or value.count("{") != value.count("}"):
            raise ValueError(f"{owner}.{f.name}: unbalanced brackets in {value!r}")
