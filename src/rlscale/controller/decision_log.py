"""Structured decision logs: one JSON object per line, to stdout or a file, flushed per line
so a crash loses at most the decision being written."""

from __future__ import annotations

import json
import math
import sys
import threading
from pathlib import Path
from typing import IO, Any


def _finite(value: Any) -> Any:
    """JSON has no NaN: unknown numbers are logged as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class DecisionLog:
    """Appends JSON lines. ``path=None`` writes to ``stream`` (stdout by default)."""

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._owned = path is not None
        if path is not None:
            p = Path(path)
            if p.parent and not p.parent.exists():
                raise FileNotFoundError(f"decision log {p}: directory {p.parent} does not exist")
            self._stream: IO[str] = p.open("a", encoding="utf-8")
        else:
            self._stream = stream if stream is not None else sys.stdout
        self.records_written = 0

    def write(self, record: dict[str, Any]) -> None:
        try:  # the common case has no NaN: let the C encoder do it in one pass
            line = json.dumps(record, allow_nan=False, separators=(",", ":"), default=str)
        except ValueError:
            line = json.dumps(_finite(record), allow_nan=False, separators=(",", ":"), default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
            self.records_written += 1

    def close(self) -> None:
        if self._owned:
            self._stream.close()


def read_decision_log(path: str | Path) -> list[dict[str, Any]]:
    """Parse a JSON-lines decision log; a broken line is reported with its number."""
    records = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not a JSON decision record ({exc})") from exc
    return records
