"""Whole-file writes that a reader never sees half done.

It lives in ``core`` because every layer that writes reports, presets or configs (sim,
calibration, evaluation, controller, emulator) may import ``core`` and no other common layer.
"""

from __future__ import annotations

import contextlib
import os
import re
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


def publish_files(tmp: Path, target: Path, *, last: str, owned: re.Pattern[str]) -> Path:
    """Move the files of the finished folder ``tmp`` into ``target`` (``last``, the file readers
    key on, last of all; a missing ``target`` is ``tmp`` renamed), then remove the files of
    ``target`` that match ``owned`` but were not published: an older run's, which would mix
    with this one's. Files ``target`` holds that match nothing are left alone (``--out .``)."""
    if not target.exists():
        os.rename(tmp, target)
        return target
    names = [*sorted(p.name for p in tmp.iterdir() if p.name != last), last]
    for name in names:
        os.replace(tmp / name, target / name)
    shutil.rmtree(tmp, ignore_errors=True)
    for stale in target.iterdir():
        if owned.match(stale.name) and stale.name not in names:
            stale.unlink(missing_ok=True)
    return target
