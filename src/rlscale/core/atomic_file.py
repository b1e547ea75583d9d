"""Whole-file writes that a reader never sees half done.

It lives in ``core`` because every layer that writes reports, presets or configs (sim,
calibration, evaluation, controller, emulator) may import ``core`` and no other common layer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
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
