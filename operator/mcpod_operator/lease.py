"""Leader election on a coordination.k8s.io Lease: the pure part (what to write, and when).

One replica holds the Lease and reconciles; the others wait. A holder renews every few seconds;
a candidate takes the Lease over only when the holder has not renewed it for a whole lease
duration. The holder releases it on a clean shutdown so a standby takes over at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from mcpod_operator.timestamps import parse_time

LEASE_SECONDS = 15
RENEW_SECONDS = 5.0


def _micro(moment: datetime) -> str:
    # Leases carry MicroTime: RFC 3339 with microseconds.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_lease(
    namespace: str, name: str, identity: str, now: datetime, seconds: int = LEASE_SECONDS
) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": seconds,
            "acquireTime": _micro(now),
            "renewTime": _micro(now),
            "leaseTransitions": 0,
        },
    }


def holder(lease: Mapping[str, Any]) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def is_expired(lease: Mapping[str, Any], now: datetime) -> bool:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return True
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    if not renewed:
        return True
    try:
        last = parse_time(str(renewed))
    except ValueError:
        return True
    seconds = int(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
    return now >= last + timedelta(seconds=seconds)


def claim(
    lease: Mapping[str, Any], identity: str, now: datetime, seconds: int = LEASE_SECONDS
) -> dict[str, Any] | None:
    """The Lease to write to hold (or keep holding) it, or None if another holder is alive.

    The body keeps the read resourceVersion, so a concurrent claim fails with a conflict instead
    of two candidates both believing they won.
    """
    current = holder(lease)
    if current != identity and not is_expired(lease, now):
        return None
    spec = dict(lease.get("spec") or {})
    if current != identity:
        spec["acquireTime"] = _micro(now)
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    spec["holderIdentity"] = identity
    spec["leaseDurationSeconds"] = seconds
    spec["renewTime"] = _micro(now)
    return {**lease, "spec": spec}


def release(lease: Mapping[str, Any], identity: str) -> dict[str, Any] | None:
    """The Lease with no holder, if we hold it (so a standby need not wait for expiry)."""
    if holder(lease) != identity:
        return None
    spec = dict(lease.get("spec") or {})
    spec["holderIdentity"] = None
    spec["leaseDurationSeconds"] = 1
    return {**lease, "spec": spec}
