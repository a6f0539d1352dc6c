"""The process kubelet: pods run as local processes, as a kubelet would run them."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fixtures.cluster import ControlPlaneHandle
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_devcluster.processes import processes_of_cluster
from support.polling import eventually

HTTP_SERVER = Path(__file__).with_name("http_app.py")


def pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {"name": "app", "image": "mcpod/process", **container}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [base], "terminationGracePeriodSeconds": 5, **spec},
    }


def http_app(*args: str) -> list[str]:
    """A tiny HTTP server (see http_app.py) bound to the pod IP."""
    return [sys.executable, str(HTTP_SERVER), "--host", "$(POD_IP)", *args]


POD_IP_ENV = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
READY_PROBE = {"httpGet": {"path": "/ready", "port": 8000}, "periodSeconds": 1}


async def read_pod(core: client.CoreV1Api, ns: str, name: str) -> dict[str, Any]:
    resp = await core.read_namespaced_pod(name, ns, _preload_content=False)
    import json

    data: dict[str, Any] = json.loads(await resp.read())
    return data


async def pod_gone(core: client.CoreV1Api, ns: str, name: str) -> bool:
    try:
        await core.read_namespaced_pod(name, ns)
    except ApiException as exc:
        return exc.status == 404
    return False


def condition(p: dict[str, Any], kind: str) -> str | None:
    for cond in p.get("status", {}).get("conditions", []) or []:
        if cond["type"] == kind:
            return str(cond["status"])
    return None


def container_status(p: dict[str, Any]) -> dict[str, Any]:
    statuses = p.get("status", {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


async def test_http_pod_becomes_ready_on_its_own_loopback_address(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(
        namespace,
        pod("web", {"command": http_app(), "env": [POD_IP_ENV], "readinessProbe": READY_PROBE}),
    )

    async def ready() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "web")
        return p if condition(p, "Ready") == "True" else None

    p = await eventually(ready, within=30, what="pod Ready")
    ip = p["status"]["podIP"]
    assert ip.startswith("127.")
    assert ip != "127.0.0.1"
    assert p["status"]["phase"] == "Running"
    assert p["spec"]["nodeName"] == "mcpod-process-node"
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://{ip}:8000/whoami")
    assert r.status_code == 200
    assert r.json()["bound"] == ip


async def test_secret_and_downward_api_values_reach_the_process_env(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    sentinel = "s3ntinel-" + os.urandom(4).hex()
    await core.create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"pat": sentinel}}
    )
    env = [
        POD_IP_ENV,
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pat"}}},
        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GREETING", "value": "hello $(MY_NAME)"},
    ]
    await core.create_namespaced_pod(
        namespace, pod("envy", {"command": http_app(), "env": env, "readinessProbe": READY_PROBE})
    )

    async def ready() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "envy")
        return p if condition(p, "Ready") == "True" else None

    p = await ready_pod(ready)
    async with httpx.AsyncClient() as http:
        seen = (await http.get(f"http://{p['status']['podIP']}:8000/env")).json()
    assert seen["FROM_SECRET"] == sentinel
    assert seen["MY_NAME"] == "envy"
    assert seen["GREETING"] == "hello envy"
    # The secret reached the process through its environment, never through the pod spec.
    assert sentinel not in str(p)


async def ready_pod(probe: Any) -> dict[str, Any]:
    result: dict[str, Any] = await eventually(probe, within=30, what="pod Ready")
    return result


async def test_missing_secret_is_reported_and_recovers_when_created(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    env = [
        POD_IP_ENV,
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "later", "key": "pat"}}},
    ]
    await core.create_namespaced_pod(
        namespace, pod("waits", {"command": http_app(), "env": env, "readinessProbe": READY_PROBE})
    )

    async def config_error() -> dict[str, Any] | None:
        waiting = container_status(await read_pod(core, namespace, "waits")).get("state", {})
        waiting = waiting.get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await eventually(config_error, within=20, what="CreateContainerConfigError")
    assert 'secret "later" not found' in waiting["message"]
    await core.create_namespaced_secret(
        namespace, {"metadata": {"name": "later"}, "stringData": {"pat": "x"}}
    )

    async def ready() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "waits")
        return p if condition(p, "Ready") == "True" else None

    await eventually(ready, within=40, what="pod Ready after the Secret appeared")


async def test_failing_readiness_probe_keeps_the_pod_unready(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(
        namespace,
        pod(
            "sulky",
            {"command": http_app("--unready"), "env": [POD_IP_ENV], "readinessProbe": READY_PROBE},
        ),
    )

    async def serving() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "sulky")
        ip = p.get("status", {}).get("podIP")
        if not ip or "running" not in container_status(p).get("state", {}):
            return None
        try:
            async with httpx.AsyncClient() as http:
                r = await http.get(f"http://{ip}:8000/ready")
        except httpx.HTTPError:
            return None
        return p if r.status_code == 503 else None

    await eventually(serving, within=30, what="the container serving (and failing /ready)")
    # Several probe periods later it is still not Ready.
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        p = await read_pod(core, namespace, "sulky")
        assert condition(p, "Ready") == "False"
        assert container_status(p)["ready"] is False


async def test_deleting_a_pod_stops_its_process_within_the_grace_period(
    kube_api: client.ApiClient, namespace: str, control_plane: ControlPlaneHandle
) -> None:
    core = client.CoreV1Api(kube_api)
    # This server ignores SIGTERM: only SIGKILL at the end of the grace period stops it.
    await core.create_namespaced_pod(
        namespace,
        pod(
            "stubborn",
            {
                "command": http_app("--ignore-sigterm"),
                "env": [POD_IP_ENV],
                "readinessProbe": READY_PROBE,
            },
            terminationGracePeriodSeconds=2,
        ),
    )

    async def ready() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "stubborn")
        return p if condition(p, "Ready") == "True" else None

    p = await ready_pod(ready)
    pid = int(container_status(p)["containerID"].removeprefix("process://"))
    assert pid in processes_of_cluster(control_plane.cluster_id)
    t0 = time.monotonic()
    await core.delete_namespaced_pod("stubborn", namespace)

    await eventually(lambda: pod_gone(core, namespace, "stubborn"), within=20, what="pod deleted")
    elapsed = time.monotonic() - t0
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    # Killed at the end of the grace period, not before it (SIGTERM was ignored).
    assert elapsed >= 1.5
    log = control_plane.pod_log(namespace, "stubborn", "app")
    assert "ignoring SIGTERM" in log


async def test_graceful_process_exits_on_sigterm_quickly(
    kube_api: client.ApiClient, namespace: str, control_plane: ControlPlaneHandle
) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(
        namespace,
        pod(
            "polite",
            {"command": http_app(), "env": [POD_IP_ENV], "readinessProbe": READY_PROBE},
            terminationGracePeriodSeconds=30,
        ),
    )

    async def ready() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "polite")
        return p if condition(p, "Ready") == "True" else None

    p = await ready_pod(ready)
    pid = int(container_status(p)["containerID"].removeprefix("process://"))
    await core.delete_namespaced_pod("polite", namespace)

    # Far sooner than the 30 s grace period: the process exited on SIGTERM.
    await eventually(
        lambda: pod_gone(core, namespace, "polite"), within=10, what="pod deleted after SIGTERM"
    )
    assert pid not in processes_of_cluster(control_plane.cluster_id)
    assert "received SIGTERM" in control_plane.pod_log(namespace, "polite", "app")


async def test_crashing_container_backs_off_and_counts_restarts(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(
        namespace, pod("crashy", {"command": [sys.executable, "-c", "raise SystemExit(3)"]})
    )

    async def looping() -> dict[str, Any] | None:
        status = container_status(await read_pod(core, namespace, "crashy"))
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 2:
            return status
        return None

    status = await eventually(looping, within=30, what="CrashLoopBackOff")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["ready"] is False


async def test_liveness_failure_restarts_the_container(
    kube_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)
    liveness = {
        "httpGet": {"path": "/alive", "port": 8000},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    await core.create_namespaced_pod(
        namespace,
        pod(
            "zombie",
            {
                "command": http_app("--dead-after", "1"),
                "env": [POD_IP_ENV],
                "livenessProbe": liveness,
            },
            terminationGracePeriodSeconds=2,
        ),
    )

    async def restarted() -> dict[str, Any] | None:
        status = container_status(await read_pod(core, namespace, "zombie"))
        return status if status.get("restartCount", 0) >= 1 else None

    await eventually(restarted, within=40, what="a liveness restart")


async def test_run_to_completion_and_init_containers(
    kube_api: client.ApiClient, namespace: str, control_plane: ControlPlaneHandle
) -> None:
    core = client.CoreV1Api(kube_api)
    spec = pod(
        "job",
        {
            "command": ["/bin/sh", "-c", "cat /work/hello && echo main-done"],
            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        },
        restartPolicy="Never",
        initContainers=[
            {
                "name": "prep",
                "image": "mcpod/process",
                "command": ["/bin/sh", "-c", "echo from-init > /work/hello"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
    )
    await core.create_namespaced_pod(namespace, spec)

    async def succeeded() -> dict[str, Any] | None:
        p = await read_pod(core, namespace, "job")
        return p if p.get("status", {}).get("phase") == "Succeeded" else None

    await eventually(succeeded, within=30, what="phase Succeeded")
    log = control_plane.pod_log(namespace, "job", "app")
    assert "from-init" in log
    assert "main-done" in log


async def test_unknown_image_is_reported(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod(namespace, pod("ghost", {"image": "example/unknown:1"}))

    async def pull_error() -> dict[str, Any] | None:
        waiting = container_status(await read_pod(core, namespace, "ghost")).get("state", {})
        waiting = waiting.get("waiting") or {}
        return waiting if waiting.get("reason") == "ErrImagePull" else None

    waiting = await eventually(pull_error, within=20, what="ErrImagePull")
    assert "example/unknown:1" in waiting["message"]
