"""Renders the rlscale Helm chart for the tests, because no ``helm`` binary can be installed on
these machines (PyPI's ``helm`` is an unrelated system monitor; Debian and npm have none).

It implements only the Go-template actions the chart uses, with Helm's semantics, and refuses
any other action, so the chart cannot drift into templates this check would misread:
``{{ .Values.a.b }}``, ``{{ .Release.Namespace }}`` / ``.Release.Name``, ``{{ .Chart.X }}``,
``| quote``, ``{{ .Files.Get "path" | indent N }}``, ``{{ if .Values.x }}`` ... ``{{ end }}`` and
the ``{{-``/``-}}`` whitespace trimming. ``crds/`` files are passed through untemplated, as
``helm template --include-crds`` does.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_VALUE = re.compile(r"^\.(Values|Release|Chart)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)(\s*\|\s*quote)?$")
_FILE = re.compile(r'^\.Files\.Get\s+"([^"]+)"(?:\s*\|\s*indent\s+(\d+))?$')
_IF = re.compile(r"^if\s+(\.Values(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$")


class UnsupportedTemplate(ValueError):
    """A template action outside the subset (use real helm, or keep the chart simple)."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def _lookup(scope: dict[str, Any], dotted: str, where: str) -> Any:
    value: Any = scope
    for part in dotted.strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise UnsupportedTemplate(f"{where}: {dotted} is not defined")
        value = value[part]
    return value


def _text(value: Any) -> str:
    """Go's fmt of a YAML value (booleans lower case, whole floats without a point)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_template(text: str, scope: dict[str, Any], chart_dir: Path, where: str) -> str:
    out: list[str] = []
    active = [True]
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(text):
        literal = text[pos : match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        if all(active):
            out.append(literal)
        trim_next = bool(match.group(3))
        pos = match.end()
        action = match.group(2)
        if (cond := _IF.match(action)) is not None:
            active.append(bool(_lookup(scope, cond.group(1)[1:], where)))
        elif action == "end":
            if len(active) == 1:
                raise UnsupportedTemplate(f"{where}: 'end' without 'if'")
            active.pop()
        elif (value := _VALUE.match(action)) is not None:
            rendered = _text(_lookup(scope, value.group(1) + value.group(2), where))
            if value.group(3):
                rendered = json.dumps(rendered)
            if all(active):
                out.append(rendered)
        elif (files := _FILE.match(action)) is not None:
            content = (chart_dir / files.group(1)).read_text()
            if files.group(2):
                pad = " " * int(files.group(2))
                content = pad + content.replace("\n", "\n" + pad)
            if all(active):
                out.append(content)
        else:
            raise UnsupportedTemplate(f"{where}: unsupported template action {{{{ {action} }}}}")
    tail = text[pos:]
    out.append(tail.lstrip() if trim_next else tail)
    if len(active) != 1:
        raise UnsupportedTemplate(f"{where}: 'if' without 'end'")
    return "".join(out)


def render_chart(
    chart_dir: Path, namespace: str, release: str = "rlscale", values: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The objects ``helm template RELEASE CHART --namespace NS --include-crds`` renders."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    scope = {
        "Values": _merge(yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}, values or {}),
        "Release": {"Namespace": namespace, "Name": release},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion")},
    }
    objects: list[dict[str, Any]] = []
    for path in sorted((chart_dir / "crds").glob("*.yaml")):
        objects.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for path in sorted((chart_dir / "templates").glob("*.yaml")):
        text = render_template(path.read_text(), scope, chart_dir, str(path.relative_to(chart_dir)))
        objects.extend(d for d in yaml.safe_load_all(text) if d)
    return objects
