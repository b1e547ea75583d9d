"""What the fuzz and fault suite ran: every property test counts its cases per command and
its injected faults in :data:`COUNTS`; with ``RLSCALE_FUZZ_REPORT=PATH`` the totals are
written there as JSON at the end of the session (docs/reliability.md)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

import pytest
from tests.reliability.cli_harness import COUNTS


@pytest.fixture(scope="session", autouse=True)
def fuzz_report() -> Iterator[Counter[str]]:
    yield COUNTS
    path = os.environ.get("RLSCALE_FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(dict(sorted(COUNTS.items())), fh, indent=2)
