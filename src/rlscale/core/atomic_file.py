"""Whole-file writes that a reader never sees half done.

It lives in ``core`` because every layer that writes reports, presets or configs (sim,
calibration, evaluation, controller, emulator) may import ``core`` and no other common layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``,
    so a reader (or a crashed writer) sees the old file or the new one, never part of one
    (no fsync: a power loss may still lose the new file). The folder is
    created if missing; the temporary file is removed on any error. The file gets
    ``tempfile.mkstemp``'s mode (owner read/write only), which suits a kubeconfig."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def write_dir_atomic(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Build a directory with ``write(tmp)`` in a temporary sibling, then swap it in: an
    existing ``path`` is moved aside only once the new one is complete, then removed, so a
    kill mid-write leaves the old directory intact (checkpoints, forecasters, resume state).
    The directory gets mode 0755 (``mkdtemp`` makes 0700): checkpoints are meant to be shipped."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        write(tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old.{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
