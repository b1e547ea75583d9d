"""A typer command whose options are generated from a configuration's settings
(:mod:`rlscale.core.settings`): each field with flags becomes one option with its flag names,
environment variable, default and help, so a command states none of them itself.

typer reads a command's parameters from its signature; the generated function carries a
synthesised ``__signature__`` with one keyword parameter per setting.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from rlscale.cli._options import exit_on_bad_input
from rlscale.core.settings import SettingField, default_text, describe, settings_of

Config = TypeVar("Config")


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
        help=describe(f),
        show_default=(default_text(f) or False) if leaves_default else not f.required,
    )


def _annotation(f: SettingField) -> Any:
    return str | None if f.setting.from_text is not None else f.type


def config_command(config_cls: type[Config], action: Callable[[Config], None]) -> Callable[..., None]:
    """A command function for typer: its options are ``config_cls``'s settings; it builds the
    configuration (bad text exits with status 2, naming the flag) and calls ``action`` with it.
    The command's docstring is the action's."""
    fields = [f for f in settings_of(config_cls) if f.setting.flags]

    def command(**given: Any) -> None:
        with exit_on_bad_input():
            values = {}
            for f in fields:
                value = given[f.name]
                if value is None:
                    continue
                values[f.name] = f.setting.from_text(value) if f.setting.from_text else value
            config = config_cls(**values)
        action(config)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=_option(f), annotation=_annotation(f)
            )
            for f in fields
        ]
    )
    command.__doc__ = action.__doc__
    command.__name__ = getattr(action, "__name__", "command")
    return command
