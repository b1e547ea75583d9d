"""Shared builders for the policy tests."""

from __future__ import annotations

import pytest

from rlscale.core.spec import ServiceSpec


@pytest.fixture
def service() -> ServiceSpec:
    return ServiceSpec(name="svc", pod_capacity_rps=100.0, slo_latency_s=0.5, min_replicas=1, max_replicas=50)
