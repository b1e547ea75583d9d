"""A typer command whose options are generated from a configuration's settings
(:mod:`rlscale.core.settings`): each field with flags becomes one option with its flag names,
environment variable, default and help, so a command states none of them itself.

typer reads a command's parameters from its signature; the generated function carries a
synthesised ``__signature__`` with one keyword parameter per setting.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer

from rlscale.cli._options import exit_on_bad_input
from rlscale.core.settings import SettingField, default_text, describe, settings_of


def _option(f: SettingField) -> Any:
    """The typer option of one setting. A setting parsed from text, or whose default is made
    per instance, takes ``None`` for "not given" so the field's own default applies."""
    leaves_default = f.setting.from_text is not None or f.default_is_factory
    if f.required:
        default: Any = ...
    else:
        default = None if leaves_default else f.default
    return typer.Option(
        default,
        *f.setting.flags,
        envvar=f.setting.env,
        metavar=f.setting.metavar,
        help=describe(f),
        show_default=(default_text(f) or False) if leaves_default else not f.required,
    )


def _annotation(f: SettingField) -> Any:
    return str | None if f.setting.from_text is not None else f.type


def _value(f: SettingField, given: Any) -> Any:
    """The field's value from its option; a flag whose text does not parse is named."""
    if f.setting.from_text is None:
        return given
    try:
        return f.setting.from_text(given)
    except ValueError as exc:
        raise ValueError(f"{f.name_on('flag')} {given!r}: {exc}") from exc


def config_command(*config_classes: type, action: Callable[..., None]) -> Callable[..., None]:
    """A command function for typer: its options are the settings of ``config_classes``
    (several when a command has options of its own beside a configuration); it builds one
    instance of each (bad text exits with status 2, naming the flag) and calls ``action`` with
    them in order. The command's docstring is the action's."""
    fields = {cls: [f for f in settings_of(cls) if f.setting.flags] for cls in config_classes}
    names = [f.name for group in fields.values() for f in group]
    if len(names) != len(set(names)):
        raise TypeError(f"config_command: a field name is used twice in {config_classes}")

    def command(**given: Any) -> None:
        with exit_on_bad_input():
            # None (and an empty repeatable option) is "not given": the field's default applies
            configs = [
                cls(
                    **{f.name: _value(f, given[f.name]) for f in group if given[f.name] not in (None, [], ())}
                )
                for cls, group in fields.items()
            ]
        action(*configs)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=_option(f), annotation=_annotation(f)
            )
            for group in fields.values()
            for f in group
        ]
    )
    command.__doc__ = action.__doc__
    command.__name__ = getattr(action, "__name__", "command")
    return command
