"""Label and field selectors, as list and watch requests send them.

Label selector grammar (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
#label-selectors): ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
comma-separated and ANDed. Field selectors support ``=``, ``==`` and ``!=`` on dotted paths
(``metadata.name``, ``status.phase``...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_SET_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_top(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over a label map; raises ValueError naming the bad requirement."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for req in _split_top(selector):
        match = _SET_RE.match(req)
        if match:
            key, op, values_raw = match.groups()
            values = {v.strip() for v in values_raw.split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in req:
            key, value = (s.strip() for s in re.split(r"==?", req, maxsplit=1))
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif req.startswith("!"):
            checks.append(lambda labels, k=req[1:].strip(): k not in labels)
        elif re.fullmatch(r"[A-Za-z0-9_./-]+", req):
            checks.append(lambda labels, k=req: k in labels)
        else:
            raise ValueError(f"unable to parse requirement {req!r} in labelSelector {selector!r}")
    return lambda labels: all(check(labels) for check in checks)


def _lookup(obj: Any, path: str) -> str | None:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return None if obj is None else str(obj)


def parse_field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for req in _split_top(selector):
        if "!=" in req:
            path, value = (s.strip() for s in req.split("!=", 1))
            checks.append(lambda obj, p=path, v=value: (_lookup(obj, p) or "") != v)
        elif "=" in req:
            path, value = (s.strip() for s in re.split(r"==?", req, maxsplit=1))
            checks.append(lambda obj, p=path, v=value: (_lookup(obj, p) or "") == v)
        else:
            raise ValueError(f"unable to parse requirement {req!r} in fieldSelector {selector!r}")
    return lambda obj: all(check(obj) for check in checks)
