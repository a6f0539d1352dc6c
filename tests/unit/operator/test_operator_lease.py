"""Leader election decisions on a Lease (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mcpod_operator.lease import build_lease, claim, holder, is_expired, release

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_new_lease() -> None:
    lease = build_lease("ops", "mcpod-operator", "a", NOW)
    assert holder(lease) == "a"
    assert lease["spec"]["renewTime"] == "2026-01-01T12:00:00.000000Z"
    assert not is_expired(lease, NOW + timedelta(seconds=14))
    assert is_expired(lease, NOW + timedelta(seconds=15))


def test_holder_renews_and_keeps_acquire_time() -> None:
    lease = {**build_lease("ops", "l", "a", NOW), "metadata": {"resourceVersion": "7"}}
    renewed = claim(lease, "a", NOW + timedelta(seconds=5))
    assert renewed is not None
    assert renewed["spec"]["acquireTime"] == lease["spec"]["acquireTime"]
    assert renewed["spec"]["renewTime"] == "2026-01-01T12:00:05.000000Z"
    assert renewed["spec"]["leaseTransitions"] == 0
    assert renewed["metadata"]["resourceVersion"] == "7"  # optimistic concurrency


@pytest.mark.parametrize(("seconds_later", "taken"), [(5, False), (14, False), (16, True)])
def test_other_candidate_waits_for_expiry(seconds_later: int, taken: bool) -> None:
    lease = build_lease("ops", "l", "a", NOW)
    result = claim(lease, "b", NOW + timedelta(seconds=seconds_later))
    assert (result is not None) is taken
    if result is not None:
        assert holder(result) == "b"
        assert result["spec"]["leaseTransitions"] == 1


def test_release_lets_a_standby_take_over_at_once() -> None:
    lease = build_lease("ops", "l", "a", NOW)
    released = release(lease, "a")
    assert released is not None
    assert holder(released) == ""
    assert claim(released, "b", NOW) is not None
    assert release(lease, "b") is None  # only the holder releases


@pytest.mark.parametrize(
    "spec",
    [{}, {"holderIdentity": "a"}, {"holderIdentity": "a", "renewTime": "garbage"}],
)
def test_malformed_leases_count_as_expired(spec: dict[str, str]) -> None:
    assert is_expired({"spec": spec}, NOW)
