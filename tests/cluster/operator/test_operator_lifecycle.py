"""The operator on the real control plane: create → Ready, idle → wake, recycle, suspend."""

from __future__ import annotations

import json

from mcpod_common import vocabulary as v
from mcpod_operator import conditions as c
from operator_harness import PAT_SENTINEL, Cluster, ready_condition


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

    # The PAT sentinel is nowhere the operator writes or logs.
    visible = json.dumps([body, pod, await cluster.events()]) + operator.log()
    assert PAT_SENTINEL not in visible
