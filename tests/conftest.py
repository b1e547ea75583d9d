"""Hypothesis profiles for the fuzz and fault suite (docs/reliability.md).

- ``ci`` (the default): seeded (``derandomize``), few examples per property, no deadline, so
  the whole suite stays within a few minutes on a shared 2-core machine and a failure
  reproduces exactly on the next run.
- ``deep``: ``pytest --hypothesis-profile=deep tests/reliability``: 20x the examples, random
  seeds, for a longer hunt before a release.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    database=None,  # no replay of examples saved by earlier runs: the same cases every run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.register_profile(
    "deep",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.load_profile("ci")
