"""Restarts and replicas: no duplicate pods, one leader at a time, a quick hand-over."""

from __future__ import annotations

import signal
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_operator import conditions as c
from operator_harness import Cluster
from support.polling import eventually

NAMES = [f"c-r{i}" for i in range(6)]


async def _lease_holder(cluster: Cluster) -> str:
    try:
        lease = await client.CoordinationV1Api(cluster.api).read_namespaced_lease(
            "mcpod-operator", cluster.namespace
        )
    except ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str(lease.spec.holder_identity or "")


async def _one_pod_each(cluster: Cluster, names: list[str]) -> None:
    for name in names:
        await cluster.wait_phase(name, c.PHASE_READY, within=90)
    pods = await cluster.pods()
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    per_connection = sorted(p["metadata"]["labels"]["mcpod.dev/connection"] for p in live)
    assert per_connection == sorted(names)


async def test_killed_mid_reconcile_converges_without_duplicates(cluster: Cluster) -> None:
    first = cluster.start_operator()
    for name in NAMES:
        await cluster.create_connection(name)

    async def some_pod() -> list[dict[str, Any]]:
        return await cluster.pods()

    await eventually(some_pod, within=60, interval=0.05, what="a first pod")
    # No clean shutdown: the lease is left held and work is left half done.
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    second = cluster.start_operator()
    await _one_pod_each(cluster, NAMES)
    assert "acquired the operator lease" in second.log()


async def test_two_replicas_do_not_fight(cluster: Cluster) -> None:
    a = cluster.start_operator()
    b = cluster.start_operator()

    async def one_leader() -> str:
        return await _lease_holder(cluster)

    holder = await eventually(one_leader, within=30, what="a lease holder")

    async def leader_logged() -> bool:
        return "acquired" in a.log() + b.log()

    await eventually(leader_logged, within=10, what="the leader's log line")
    leader, standby = (a, b) if "acquired" in a.log() else (b, a)
    assert "acquired" not in standby.log()

    for name in NAMES[:3]:
        await cluster.create_connection(name)
    await _one_pod_each(cluster, NAMES[:3])
    assert "created pod" in leader.log()
    assert "created pod" not in standby.log()
    assert "standing by" in standby.log()

    # A clean stop releases the lease; the standby takes over at once and reconciles.
    assert leader.stop() == 0

    async def new_holder() -> str | None:
        current = await _lease_holder(cluster)
        return current if current and current != holder else None

    await eventually(new_holder, within=30, what="the standby holding the lease")
    await cluster.create_connection(NAMES[3])
    await _one_pod_each(cluster, NAMES[:4])
    assert f"for connection {NAMES[3]}" in standby.log()
    # Taking over the existing connections created nothing new.
    assert standby.log().count("created pod") == 1
