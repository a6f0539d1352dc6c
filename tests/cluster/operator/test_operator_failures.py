"""Failures are reported clearly and backed off: a missing PAT Secret, a crash-looping bridge."""

from __future__ import annotations

import json
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_operator import conditions as c
from operator_harness import PAT_SENTINEL, Cluster, ready_condition
from support.polling import eventually


async def test_missing_credentials_secret_is_reported_then_recovers(cluster: Cluster) -> None:
    operator = cluster.start_operator()
    await cluster.create_connection("c-nopat", with_secret=False)
    body = await cluster.wait_phase(
        "c-nopat", c.PHASE_FAILED, reason=c.REASON_CREDENTIALS_MISSING, within=60
    )
    condition = ready_condition(body)
    assert condition["status"] == "False"
    assert "c-nopat-pat" in condition["message"]

    async def warning() -> list[dict[str, Any]]:
        return [
            e
            for e in await cluster.events("c-nopat")
            if e["type"] == "Warning" and e["reason"] == c.REASON_CREDENTIALS_MISSING
        ]

    (event,) = await eventually(warning, within=10, what="a CredentialsMissing event")
    assert "c-nopat-pat" in event["message"]
    # Not retried hot: one pod, kept, waiting for the Secret (the kubelet retries it).
    (pod,) = await cluster.pods("c-nopat")

    await cluster.create_pat_secret("c-nopat-pat")
    ready = await cluster.wait_phase("c-nopat", c.PHASE_READY, within=90)
    assert ready["status"]["podName"] == pod["metadata"]["name"]
    (same,) = await cluster.pods("c-nopat")
    assert same["metadata"]["uid"] == pod["metadata"]["uid"]
    assert PAT_SENTINEL not in operator.log()


async def test_crash_loop_is_reported_and_backed_off(cluster: Cluster) -> None:
    operator = cluster.start_operator()
    # A PAT with a space: the bridge refuses to start with it (exit 2), again and again.
    await cluster.create_pat_secret("c-crash-pat", pat=f"bad {PAT_SENTINEL}")
    await cluster.create_connection("c-crash", with_secret=False)
    body = await cluster.wait_phase(
        "c-crash", c.PHASE_FAILED, reason=c.REASON_CRASH_LOOPING, within=120
    )
    assert "restarted" in ready_condition(body)["message"]
    (pod,) = await cluster.pods("c-crash")

    async def warning() -> bool:
        return any(
            e["type"] == "Warning" and e["reason"] == c.REASON_CRASH_LOOPING
            for e in await cluster.events("c-crash")
        )

    await eventually(warning, within=10, what="a CrashLooping event")

    # Backed off: the same pod is restarted by the kubelet with growing delays; the operator does
    # not replace it, and does not post an event per restart.
    async def restarted_more() -> dict[str, Any] | None:
        (current,) = await cluster.pods("c-crash")
        statuses = current["status"].get("containerStatuses") or [{}]
        return current if statuses[0].get("restartCount", 0) >= 4 else None

    later = await eventually(restarted_more, within=120, what="more restarts")
    assert later["metadata"]["uid"] == pod["metadata"]["uid"]
    restarts = later["status"]["containerStatuses"][0]["restartCount"]
    crash_events = [
        e for e in await cluster.events("c-crash") if e["reason"] == c.REASON_CRASH_LOOPING
    ]
    assert len(crash_events) <= restarts
    visible = json.dumps([await cluster.connection("c-crash"), await cluster.events()])
    assert PAT_SENTINEL not in visible + operator.log()


async def test_a_refused_pod_is_reported_and_retried_with_backoff(cluster: Cluster) -> None:
    """An admission policy refuses the pod: CreateFailed + Warning, retried on a backoff."""
    admission = client.AdmissionregistrationV1Api(cluster.api)
    policy = f"refuse-connection-pods-{cluster.namespace}"
    await admission.create_validating_admission_policy(
        {
            "metadata": {"name": policy},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["pods"],
                        }
                    ]
                },
                "validations": [{"expression": "false", "message": "no pods in this test"}],
            },
        }
    )
    await admission.create_validating_admission_policy_binding(
        {
            "metadata": {"name": policy},
            "spec": {
                "policyName": policy,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}
                    }
                },
            },
        }
    )
    probe_pod = {
        "metadata": {"name": "probe"},
        "spec": {"containers": [{"name": "c", "image": "mcpod/process"}]},
    }

    async def policy_active() -> bool:
        # Policies take effect a moment after they are created; a dry run shows when.
        try:
            await cluster.core.create_namespaced_pod(cluster.namespace, probe_pod, dry_run="All")
        except ApiException as error:
            return error.status in (403, 422)
        return False

    try:
        await eventually(policy_active, within=30, interval=0.3, what="the policy in force")
        cluster.start_operator()
        await cluster.create_connection("c-refused")
        body = await cluster.wait_phase(
            "c-refused", c.PHASE_PENDING, reason=c.REASON_CREATE_FAILED, within=60
        )
        assert "no pods in this test" in ready_condition(body)["message"]

        async def warning() -> bool:
            return any(
                e["type"] == "Warning" and e["reason"] == c.REASON_CREATE_FAILED
                for e in await cluster.events("c-refused")
            )

        await eventually(warning, within=10, what="a CreateFailed event")
    finally:
        await admission.delete_validating_admission_policy_binding(policy)
        await admission.delete_validating_admission_policy(policy)
    # Retried on the backoff (5 s, 10 s, …), not hot, until the API accepts the pod.
    await cluster.wait_phase("c-refused", c.PHASE_READY, within=90)
