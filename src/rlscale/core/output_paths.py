"""Checks of output destinations, made before any work starts: an ``--out`` that is a file
where a folder is needed (or the reverse), or under a file or an unwritable folder, used to
lose a whole evaluation or training run to a traceback at the very end."""

from __future__ import annotations

import os
from pathlib import Path


def _check_creatable(directory: Path, what: str, target: Path) -> None:
    """``directory`` exists as a writable folder, or can be created (its nearest existing
    ancestor is a writable folder)."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{what} {str(target)!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {str(target)!r}: folder {str(existing)!r} is not writable")


def check_output_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` can be written as a file; raises ValueError naming ``what`` (the flag) if not."""
    target = Path(path)
    if not str(path):
        raise ValueError(f"{what}: empty path")
    if target.is_dir():
        raise ValueError(f"{what} {str(target)!r} is a folder; give a file path")
    _check_creatable(target.parent, what, target)
    return target


def check_output_dir(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` is, or can be created as, a writable folder; raises ValueError if not."""
    target = Path(path)
    if not str(path):
        raise ValueError(f"{what}: empty path")
    if target.exists() and not target.is_dir():
        raise ValueError(f"{what} {str(target)!r} is a file; give a folder")
    _check_creatable(target, what, target)
    return target
