"""Restarts and replicas: no duplicate pods, one leader at a time, a quick hand-over."""

from __future__ import annotations

import signal
import socket
from typing import Any

import httpx
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _health(port: int) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"http://127.0.0.1:{port}/healthz")
    assert response.status_code == 200
    return response.text


async def test_two_replicas_do_not_fight(cluster: Cluster) -> None:
    ports = _free_port(), _free_port()
    a = cluster.start_operator(MCPOD_HEALTH_LISTEN=f"127.0.0.1:{ports[0]}")
    b = cluster.start_operator(MCPOD_HEALTH_LISTEN=f"127.0.0.1:{ports[1]}")

    async def one_leader() -> str:
        return await _lease_holder(cluster)

    holder = await eventually(one_leader, within=30, what="a lease holder")

    async def leader_logged() -> bool:
        return "acquired" in a.log() + b.log()

    await eventually(leader_logged, within=10, what="the leader's log line")
    leader, standby = (a, b) if "acquired" in a.log() else (b, a)

    async def standby_waiting() -> bool:
        return "standing by" in standby.log()

    await eventually(standby_waiting, within=30, what="the other replica standing by")
    assert "acquired" not in standby.log()
    # Both healthy (a standby must not be restarted), each saying which role it has.
    leader_port, standby_port = ports if leader is a else ports[::-1]
    assert await _health(leader_port) == "ok (leader)\n"
    assert await _health(standby_port) == "ok (standby)\n"

    for name in NAMES[:3]:
        await cluster.create_connection(name)
    await _one_pod_each(cluster, NAMES[:3])
    assert "created pod" in leader.log()
    assert "created pod" not in standby.log()

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
