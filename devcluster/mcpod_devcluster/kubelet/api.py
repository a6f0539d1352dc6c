"""The process kubelet's only door to the Kubernetes API."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException


async def _body(resp: Any) -> dict[str, Any]:
    """The JSON body of a raw response; error statuses raise like the typed calls do."""
    raw = await resp.read()
    if resp.status >= 400:
        raise ApiException(status=resp.status, reason=raw.decode(errors="replace")[:500])
    data: dict[str, Any] = json.loads(raw) if raw else {}
    return data


class KubeletApi:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)

    async def register_node(self, name: str, ip: str, now: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "mcpod.dev/process-kubelet": "true",
                },
            },
        }
        try:
            await self.core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        await self.core.patch_node_status(name, {"status": self.node_status(ip, now)})

    @staticmethod
    def node_status(ip: str, now: str) -> dict[str, Any]:
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "process kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        capacity = {"cpu": "2", "memory": "24Gi", "pods": "1000", "ephemeral-storage": "100Gi"}
        return {
            "conditions": [ready],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": "localhost"},
            ],
            "capacity": capacity,
            "allocatable": capacity,
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "process-kubelet",
                "containerRuntimeVersion": "process://",
                "kernelVersion": "",
                "osImage": "",
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        }

    async def heartbeat(self, name: str, ip: str, now: str) -> None:
        await self.core.patch_node_status(name, {"status": self.node_status(ip, now)})

    async def list_pods(self) -> tuple[list[dict[str, Any]], str]:
        resp = await self.core.list_pod_for_all_namespaces(_preload_content=False)
        data = await _body(resp)
        return data["items"], data["metadata"]["resourceVersion"]

    async def watch_pods(self, resource_version: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        w = watch.Watch()
        async with w:
            async for event in w.stream(
                self.core.list_pod_for_all_namespaces,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=300,
            ):
                yield event["type"], event["raw_object"]

    async def bind(self, namespace: str, name: str, node: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        # The generated client cannot parse the Binding response: keep it raw.
        resp = await self.core.create_namespaced_pod_binding(
            name, namespace, body, _preload_content=False
        )
        await _body(resp)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        resp = await self.core.patch_namespaced_pod_status(
            name, namespace, {"status": status}, _preload_content=False
        )
        await _body(resp)

    async def delete_now(self, namespace: str, name: str, uid: str) -> None:
        try:
            resp = await self.core.delete_namespaced_pod(
                name,
                namespace,
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
                _preload_content=False,
            )
            await _body(resp)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            resp = await self.core.read_namespaced_secret(name, namespace, _preload_content=False)
            body = await _body(resp)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = body.get("data") or {}
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}

    async def read_config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            resp = await self.core.read_namespaced_config_map(
                name, namespace, _preload_content=False
            )
            body = await _body(resp)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, str] = body.get("data") or {}
        return data

    async def service_account_token(
        self, namespace: str, account: str, pod_name: str, pod_uid: str, *, bind: bool
    ) -> str | None:
        """A TokenRequest token, bound to the pod when the pod names its account.

        (Without the ServiceAccount admission plugin, a pod that names no
        account has none recorded, and the API refuses to bind to it.)
        """
        spec: dict[str, Any] = {"expirationSeconds": 86400}
        if bind:
            spec["boundObjectRef"] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod_name,
                "uid": pod_uid,
            }
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        try:
            resp = await self.core.create_namespaced_service_account_token(
                account, namespace, body, _preload_content=False
            )
            result = await _body(resp)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        token: str = result["status"]["token"]
        return token
