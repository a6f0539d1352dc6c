"""The operator on the real control plane: create → Ready, idle → wake, recycle, suspend."""

from __future__ import annotations

import json
from typing import Any

from mcpod_common import vocabulary as v
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_operator import conditions as c
from operator_harness import (
    PAT_SENTINEL,
    ROUTING_KEY,
    Cluster,
    now_rfc3339,
    ready_condition,
)
from support.polling import eventually


async def test_create_becomes_ready_with_the_contract(cluster: Cluster) -> None:
    operator = cluster.start_operator()
    await cluster.create_connection("c-ready", domains=["core", "work"], readOnly=True)
    body = await cluster.wait_phase("c-ready", c.PHASE_READY)

    condition = ready_condition(body)
    assert condition["status"] == "True"
    assert condition["reason"] == c.REASON_POD_READY
    assert condition["observedGeneration"] == body["metadata"]["generation"]
    status = body["status"]
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert status["serverVersion"] == v.FAKE_SERVER_VERSION
    assert status["lastActivityTime"]

    (pod,) = await cluster.pods("c-ready")
    assert status["podName"] == pod["metadata"]["name"]
    assert pod["metadata"]["labels"] == {
        v.LABEL_APP_NAME: v.APP_NAME_CONNECTION,
        v.LABEL_MANAGED_BY: v.MANAGED_BY_OPERATOR,
        v.LABEL_OWNER: "u-alice",
        v.LABEL_CONNECTION: "c-ready",
    }
    (ref,) = pod["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == (v.KIND, "c-ready", body["metadata"]["uid"])
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["MCPOD_PAT"]["valueFrom"]["secretKeyRef"] == {"name": "c-ready-pat", "key": "pat"}
    assert env["MCPOD_DOMAINS"]["value"] == "core work"
    assert env["MCPOD_READ_ONLY"]["value"] == "true"
    assert pod["spec"]["containers"][0]["image"] == f"{v.IMAGE_CONNECTION}:{v.FAKE_SERVER_VERSION}"

    # The bridge-token Secret, owned by the connection.
    bridge = [
        s for s in await cluster.secrets() if s["metadata"]["name"].startswith("c-ready-bridge-")
    ]
    assert len(bridge) == 1
    assert bridge[0]["metadata"]["ownerReferences"][0]["uid"] == body["metadata"]["uid"]

    # Events for the transitions, and nothing of kopf's on our object.
    reasons = [e["reason"] for e in await cluster.events("c-ready")]
    assert c.REASON_STARTING in reasons
    assert c.REASON_POD_READY in reasons
    assert not body["metadata"].get("finalizers")
    assert not any("kopf" in key for key in body["metadata"].get("annotations") or {})

    # Neither the PAT sentinel nor the bridge token is anywhere the operator writes or logs.
    visible = json.dumps([body, pod, await cluster.events()]) + operator.log()
    assert PAT_SENTINEL not in visible
    assert derive_bridge_token(ROUTING_KEY.encode(), body["metadata"]["uid"]) not in visible


async def test_idle_scales_to_zero_and_a_wake_brings_it_back(cluster: Cluster) -> None:
    cluster.start_operator()
    await cluster.create_connection("c-idle", idleTimeout="8s")
    await cluster.wait_phase("c-idle", c.PHASE_READY)
    body = await cluster.wait_phase("c-idle", c.PHASE_IDLE, within=60)
    assert ready_condition(body)["reason"] == c.REASON_IDLE
    assert "podName" not in body["status"]
    await cluster.wait_no_pods("c-idle")

    await cluster.wake("c-idle")
    woken = await cluster.wait_phase("c-idle", c.PHASE_READY, within=30)
    stamp = woken["metadata"]["annotations"][v.ANNOTATION_LAST_ACTIVITY]
    assert woken["status"]["lastActivityTime"] == stamp
    assert len(await cluster.live_pods("c-idle")) == 1
    # And it goes idle again on its own.
    await cluster.wait_phase("c-idle", c.PHASE_IDLE, within=60)

    async def two_idle_events() -> bool:
        reasons = [e["reason"] for e in await cluster.events("c-idle")]
        return reasons.count(c.REASON_IDLE) == 2

    await eventually(two_idle_events, within=10, what="an Idle event per scale-down")


async def test_spec_change_and_pat_rotation_recycle_the_pod(cluster: Cluster) -> None:
    cluster.start_operator()
    await cluster.create_connection("c-recycle")
    first = (await cluster.wait_phase("c-recycle", c.PHASE_READY))["status"]["podName"]

    await cluster.patch_connection("c-recycle", {"spec": {"readOnly": True, "domains": ["core"]}})

    async def recycled() -> dict[str, Any] | None:
        body = await cluster.connection("c-recycle")
        status = (body or {}).get("status") or {}
        if status.get("phase") == c.PHASE_READY and status.get("podName") != first:
            return body
        return None

    body = await eventually(recycled, within=60, what="a new Ready pod")
    second = body["status"]["podName"]
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"] == 2
    (pod,) = await cluster.pods("c-recycle")
    assert pod["metadata"]["name"] == second
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["MCPOD_READ_ONLY"] == "true"
    assert env["MCPOD_DOMAINS"] == "core"
    events = await cluster.events("c-recycle")
    assert c.REASON_RECYCLING in [e["reason"] for e in events]

    # The gateway's rotation stamp: same spec, new pod (the new PAT is read at start).
    await cluster.patch_connection(
        "c-recycle",
        {"metadata": {"annotations": {v.ANNOTATION_CREDENTIALS_ROTATED: now_rfc3339()}}},
    )

    async def rotated() -> dict[str, Any] | None:
        body = await cluster.connection("c-recycle")
        status = (body or {}).get("status") or {}
        name = status.get("podName")
        if status.get("phase") == c.PHASE_READY and name not in (first, second):
            return body
        return None

    await eventually(rotated, within=60, what="a pod started after the rotation")
    assert len(await cluster.pods("c-recycle")) == 1


async def test_suspend_and_resume(cluster: Cluster) -> None:
    cluster.start_operator()
    await cluster.create_connection("c-susp")
    await cluster.wait_phase("c-susp", c.PHASE_READY)
    await cluster.patch_connection("c-susp", {"spec": {"suspended": True}})
    body = await cluster.wait_phase("c-susp", c.PHASE_SUSPENDED)
    assert ready_condition(body)["reason"] == c.REASON_SUSPENDED
    await cluster.wait_no_pods("c-susp")
    await cluster.patch_connection("c-susp", {"spec": {"suspended": False}})
    await cluster.wait_phase("c-susp", c.PHASE_READY)
    assert len(await cluster.live_pods("c-susp")) == 1


async def test_created_suspended_never_gets_a_pod(cluster: Cluster) -> None:
    cluster.start_operator()
    await cluster.create_connection("c-asleep", suspended=True)
    await cluster.wait_phase("c-asleep", c.PHASE_SUSPENDED)
    assert await cluster.pods("c-asleep") == []
    assert not [
        s for s in await cluster.secrets() if s["metadata"]["name"].startswith("c-asleep-bridge")
    ]


async def test_deleting_the_connection_removes_its_children(cluster: Cluster) -> None:
    cluster.start_operator()
    await cluster.create_connection("c-gone")
    await cluster.wait_phase("c-gone", c.PHASE_READY)
    await cluster.custom.delete_namespaced_custom_object(
        v.GROUP, v.VERSION, cluster.namespace, v.PLURAL, "c-gone"
    )

    async def gone() -> bool:
        names = [s["metadata"]["name"] for s in await cluster.secrets()]
        return (
            await cluster.connection("c-gone") is None
            and not await cluster.pods("c-gone")
            and not any(n.startswith("c-gone-bridge-") for n in names)
        )

    await eventually(gone, within=90, what="connection, pod and bridge Secret deleted")
    # The PAT Secret belongs to whoever created it (the gateway deletes it), not to the CR.
    assert "c-gone-pat" in [s["metadata"]["name"] for s in await cluster.secrets()]


async def test_a_name_too_long_for_a_label_is_reported(cluster: Cluster) -> None:
    cluster.start_operator()
    name = "c" + "x" * 63
    await cluster.create_connection(name)
    body = await cluster.wait_phase(name, c.PHASE_FAILED, reason=c.REASON_INVALID_SPEC)
    assert "longer than 63" in ready_condition(body)["message"]
    assert await cluster.pods() == []
