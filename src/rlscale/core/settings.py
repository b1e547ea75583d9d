"""One typed definition per configuration, many surfaces.

A configuration is a frozen dataclass whose fields are declared with :func:`setting`. The
field's metadata (a :class:`Setting`) carries what every surface needs: the command line's
flag names and environment variable, the path in the ``RLAutoscaler`` custom resource, the
unit and the help. The typer options (``rlscale.cli._config_command``), the CRD's OpenAPI
schema and defaults (``rlscale.controller.crd``), the error messages that name the field the
user wrote (:class:`ConfigError`) and the docs' flag tables (:func:`markdown_table`) are all
generated from that one field, so adding a flag to ``rlscale run`` and the operator is a
one-place change.

Why dataclasses and field metadata rather than pydantic or tyro: the configurations already
are frozen dataclasses that the live path builds without any CLI; ``core`` stays free of
dependencies, so the live image gains nothing; and each surface stays a small generator over
:func:`settings_of` that reads like the thing it produces.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

#: Surfaces a field is named on: the command line (its flag) or the custom resource (``spec.<path>``).
Surface = Literal["flag", "cr"]

#: ``Setting.cr_default`` when the custom resource uses the field's own default.
SAME_DEFAULT: Any = type("SameDefault", (), {"__repr__": lambda self: "SAME_DEFAULT"})()


@dataclass(frozen=True)
class Setting:
    """Everything the surfaces say about one configuration field."""

    help: str
    #: flag names, the first one naming the field in messages; a boolean's ``--on/--off`` pair is one entry
    flags: tuple[str, ...] = ()
    env: str | None = None
    unit: str = ""
    #: the value's placeholder in ``--help`` (``ADDRESS``); None: typer's, from the type
    metavar: str | None = None
    #: dotted camelCase path under the custom resource's ``spec``; None: not settable in a CR
    cr_path: str | None = None
    #: OpenAPI constraints beyond the type, default and description (``minimum``, ``pattern``, a ``type``
    #: of its own when the CR spells the value differently)
    cr_schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cr_required: bool = False
    #: the CR's default where it differs from the field's (in the CR's spelling)
    cr_default: Any = SAME_DEFAULT
    #: turns the CR's value into the field's (e.g. ``onPolicyFailure: hold`` -> ``fallback_hpa=False``)
    from_cr: Callable[[Any], Any] | None = None
    #: turns the flag's text into the field's value (a file to read, a comma-separated list); the
    #: flag then takes text and, when absent, leaves the field's default
    from_text: Callable[[str], Any] | None = None

    @property
    def flag(self) -> str | None:
        """The flag that names the field in messages (``--dry-run`` of ``--dry-run/--apply``)."""
        return self.flags[0].split("/")[0] if self.flags else None

    def field(self, default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING) -> Any:
        """A dataclass field carrying this setting (for a setting shared by several configs)."""
        return dataclasses.field(default=default, default_factory=default_factory, metadata={"setting": self})


def setting(
    default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, **surfaces: Any
) -> Any:
    """A dataclass field with its :class:`Setting` (``surfaces`` are the Setting's fields)."""
    return Setting(**surfaces).field(default, default_factory=default_factory)


def same_field(config_cls: type, name: str) -> Any:
    """A dataclass field declared like ``config_cls``'s field ``name`` (same setting, same
    default): another command that takes the same setting reuses its one definition."""
    source = {f.name: f for f in dataclasses.fields(config_cls)}[name]
    return source.metadata["setting"].field(source.default, default_factory=source.default_factory)


@dataclass(frozen=True)
class SettingField:
    """A configuration field as the generators see it: name, resolved type, default, setting."""

    name: str
    type: Any
    default: Any  # dataclasses.MISSING when the field is required; None when made per instance
    setting: Setting
    #: the default is made afresh per instance (a random identity, an empty dict): no surface shows
    #: it, and the factory is not called (it may be costly, e.g. reading the trace registry)
    default_is_factory: bool = False

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING

    def name_on(self, surface: Surface) -> str:
        """How the user wrote this field: its flag, or ``spec.<path>`` in a custom resource
        (falling back to the flag, then the field's name, where the surface has none)."""
        if surface == "cr" and self.setting.cr_path:
            return f"spec.{self.setting.cr_path}"
        return self.setting.flag or self.name


def settings_of(config_cls: type) -> list[SettingField]:
    """The fields of ``config_cls`` declared with :func:`setting`, in declaration order."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        meta = f.metadata.get("setting")
        if meta is None:
            continue
        factory = f.default_factory is not dataclasses.MISSING
        out.append(SettingField(f.name, hints[f.name], None if factory else f.default, meta, factory))
    return out


def value_type(tp: Any) -> type:
    """The plain type of a field's values: ``float`` for ``float | None``, ``tuple`` for
    ``tuple[str, ...]``."""
    args = typing.get_args(tp)
    if type(None) in args and len(args) == 2:
        tp = next(a for a in args if a is not type(None))
    return typing.get_origin(tp) or tp


def is_default(f: SettingField, value: Any) -> bool:
    """Whether ``value`` is the field's default; a default made per instance is not made (it may
    be costly): an empty value counts as it."""
    return not value if f.default_is_factory else bool(value == f.default)


def _arg_text(value: Any) -> str:
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"
    return str(value)


def command_args(config: Any, *, always: tuple[str, ...] = ()) -> list[str]:
    """The flags that give ``config`` its values: each field that differs from its default (or
    is named in ``always``), so a recorded command line reproduces the run. A repeatable option
    is repeated, a setting parsed from text gets its items comma-separated, a boolean's pair
    gives the flag of its value."""
    args: list[str] = []
    for f in settings_of(type(config)):
        value = getattr(config, f.name)
        if not f.setting.flags or value is None:
            continue
        if is_default(f, value) and f.name not in always:
            continue
        flag = f.setting.flag
        if isinstance(value, bool):
            on, _, off = f.setting.flags[0].partition("/")
            if value or off:
                args.append(on if value else off)
        elif isinstance(value, list | tuple):
            if f.setting.from_text is not None:
                args += [flag, ",".join(map(_arg_text, value))]
            else:
                args += [a for item in value for a in (flag, _arg_text(item))]
        else:
            args += [flag, _arg_text(value)]
    return args


class ConfigError(ValueError):
    """Problems with a configuration, each a template that names fields as ``{field_name}``.

    ``str()`` names them by flag (the command line's view); :meth:`render` names them on any
    surface, so the operator reports ``spec.slo.budget`` where ``rlscale run`` says ``--slo-budget``
    from the same check, without rewriting the text."""

    def __init__(self, config_cls: type, templates: list[str]) -> None:
        self.config_cls = config_cls
        self.templates = list(templates)
        super().__init__("; ".join(self.render("flag")))

    def render(self, surface: Surface) -> list[str]:
        names = {f.name: f.name_on(surface) for f in settings_of(self.config_cls)}
        pattern = re.compile(r"\{(" + "|".join(map(re.escape, names)) + r")\}")
        return [pattern.sub(lambda m: names[m.group(1)], t) for t in self.templates]


def describe(f: SettingField) -> str:
    """The field's help with its unit, as the CRD's description and the docs say it."""
    return f"{f.setting.help} Unit: {f.setting.unit}." if f.setting.unit else f.setting.help


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def default_text(f: SettingField) -> str:
    """The default as a user types it ("" when there is none to show)."""
    if f.required:
        return "required"
    if f.default is None:
        return ""
    if isinstance(f.default, tuple):
        return ",".join(map(str, f.default))
    return str(f.default)


def _default_cell(f: SettingField) -> str:
    text = default_text(f)
    return f"`{text}`" if text and not f.required else text


def markdown_table(*config_classes: type) -> str:
    """The flag table of one command (its options come from ``config_classes``): every setting's
    flag, variable, CR field, default, unit and help."""
    rows = [
        "| Flag | Environment | RLAutoscaler field | Default | Unit | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for f in (f for cls in config_classes for f in settings_of(cls)):
        if not f.setting.flags:
            continue
        cells = (
            ", ".join(f"`{flag}`" for flag in f.setting.flags),
            f"`{f.setting.env}`" if f.setting.env else "",
            f"`spec.{f.setting.cr_path}`" if f.setting.cr_path else "",
            _default_cell(f),
            f.setting.unit,
            f.setting.help,
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"
