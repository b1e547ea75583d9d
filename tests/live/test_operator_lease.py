"""Lease-based leader election against the emulated API server, on manual clocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlscale.controller.operator_lease import LeaseConfig, LeaseElector
from rlscale.core.clock import ManualClock

kubernetes = pytest.importorskip("kubernetes")


@pytest.fixture
def coordination(kubeconfig: Path):
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield client.CoordinationV1Api(api_client)
    api_client.close()


def _candidates(api, name: str, n: int = 2) -> list[tuple[LeaseElector, ManualClock]]:
    cfg = LeaseConfig(
        namespace="default", name=name, lease_duration_s=15, renew_deadline_s=10.0, retry_period_s=2.0
    )
    out = []
    for i in range(n):
        clock = ManualClock(1000.0)
        out.append((LeaseElector(api, cfg, identity=f"replica-{i}", clock=clock), clock))
    return out


def test_config_rejects_inconsistent_timing() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaseConfig(namespace="default", lease_duration_s=5, renew_deadline_s=6.0, retry_period_s=1.0)
    scaled = LeaseConfig.scaled("default", "x", 3)
    assert 0 < scaled.retry_period_s < scaled.renew_deadline_s < scaled.lease_duration_s


def test_one_leader_and_takeover_after_expiry(coordination) -> None:
    (a, clock_a), (b, clock_b) = _candidates(coordination, "election-expiry")
    assert a.try_acquire_or_renew() is True
    assert b.try_acquire_or_renew() is False
    assert a.is_leader and not b.is_leader
    assert b.holder == "replica-0"
    lease = coordination.read_namespaced_lease("election-expiry", "default")
    assert lease.spec.holder_identity == "replica-0" and lease.spec.lease_duration_seconds == 15

    # a keeps renewing: however much time passes, b never takes over
    for _ in range(10):
        clock_a.advance(2.0)
        clock_b.advance(2.0)
        assert a.try_acquire_or_renew() is True
        assert b.try_acquire_or_renew() is False

    # a stops renewing (crashed / partitioned): it stops acting after the renew deadline ...
    clock_a.advance(10.5)
    assert not a.is_leader
    # ... and b takes over only once the record has not changed for a whole lease duration
    clock_b.advance(14.0)
    assert b.try_acquire_or_renew() is False
    clock_b.advance(2.0)
    assert b.try_acquire_or_renew() is True
    assert b.is_leader
    lease = coordination.read_namespaced_lease("election-expiry", "default")
    assert lease.spec.holder_identity == "replica-1"
    assert lease.spec.lease_transitions == 1

    # the old leader comes back: it sees b's live lease and follows
    assert a.try_acquire_or_renew() is False
    assert not a.is_leader and a.holder == "replica-1"


def test_release_hands_over_at_once(coordination) -> None:
    (a, _), (b, _) = _candidates(coordination, "election-release")
    assert a.try_acquire_or_renew() is True
    assert b.try_acquire_or_renew() is False
    a.release()
    assert not a.is_leader
    # a round still in flight at shutdown (the operator runs them in a worker thread) must not
    # take the released lease back
    assert a.try_acquire_or_renew() is False
    assert coordination.read_namespaced_lease("election-release", "default").spec.holder_identity is None
    assert b.try_acquire_or_renew() is True  # no waiting for expiry


def test_stale_write_loses_with_409(coordination) -> None:
    """Two candidates that both saw an expired lease: the second write carries an old
    resourceVersion and the API server refuses it, so there is never a second leader."""
    from kubernetes.client.exceptions import ApiException

    (a, _), (b, _) = _candidates(coordination, "election-race")
    assert a.try_acquire_or_renew() is True
    stale = coordination.read_namespaced_lease("election-race", "default")
    assert a.try_acquire_or_renew() is True  # a renews: the resourceVersion moves on
    stale.spec.holder_identity = "replica-1"
    with pytest.raises(ApiException) as info:
        coordination.replace_namespaced_lease("election-race", "default", stale)
    assert info.value.status == 409
    assert coordination.read_namespaced_lease("election-race", "default").spec.holder_identity == "replica-0"
    assert not b.is_leader
