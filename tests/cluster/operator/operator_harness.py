"""Running the real `mcpod-operator` against the dev control plane, with only its own RBAC.

The operator runs as a subprocess under a ServiceAccount bound to `operator/rbac/*.yaml`, so
every cluster test also proves that the least-privilege role is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_common import vocabulary as v
from support.polling import eventually

REPO = Path(__file__).resolve().parents[3]
RBAC = REPO / "operator" / "rbac"
# Must never appear in any object, event or log the operator touches.
PAT_SENTINEL = "patSENTINELop3rat0rZ9wLk2"
ROUTING_KEY = "routing-key-for-operator-tests-0123456789abcdef"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_path() -> str:
    """The operator and vocabulary of this tree first, whatever the editable install points at."""
    paths = [str(REPO / "operator"), str(REPO / "common")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(paths)


def connection_body(name: str, *, secret: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": "u-alice",
        "slug": name[:22].lower() if name[0].isalpha() else "c",
        "organization": "contoso",
        "credentials": {"secretRef": {"name": secret or f"{name}-pat"}},
        "serverVersion": v.FAKE_SERVER_VERSION,
    }
    body.update(spec)
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "metadata": {"name": name, "labels": {v.LABEL_OWNER: body["owner"]}},
        "spec": {k: val for k, val in body.items() if val is not None},
    }


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return int(self.process.returncode)


@dataclass
class Cluster:
    """What a test needs: the API as admin, the namespace, and operator processes."""

    api: client.ApiClient
    namespace: str
    kubeconfig: Path
    workdir: Path
    operators: list[OperatorProcess] = field(default_factory=list)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def start_operator(self, **env: str) -> OperatorProcess:
        index = len(self.operators)
        log_path = self.workdir / f"operator-{index}.log"
        settings = {
            "KUBECONFIG": str(self.kubeconfig),
            "MCPOD_NAMESPACE": self.namespace,
            "MCPOD_ROUTING_KEY": ROUTING_KEY,
            "MCPOD_LEASE_NAMESPACE": self.namespace,
            "MCPOD_RESYNC_INTERVAL": "1m",
            **env,
        }
        base = {k: val for k, val in os.environ.items() if not k.startswith("MCPOD_")}
        base["PYTHONPATH"] = source_path()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mcpod_operator.cli"],
                env={**base, **settings},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        operator = OperatorProcess(process, log_path)
        self.operators.append(operator)
        return operator

    def stop_all(self) -> None:
        for operator in self.operators:
            operator.stop()

    # Objects.

    async def create_pat_secret(self, name: str, pat: str = PAT_SENTINEL) -> None:
        await self.core.create_namespaced_secret(
            self.namespace,
            {"metadata": {"name": name}, "stringData": {v.SECRET_KEY_PAT: pat}},
        )

    async def create_connection(self, name: str, *, with_secret: bool = True, **spec: Any) -> None:
        if with_secret:
            await self.create_pat_secret(f"{name}-pat")
        await self.custom.create_namespaced_custom_object(
            v.GROUP, v.VERSION, self.namespace, v.PLURAL, connection_body(name, **spec)
        )

    async def patch_connection(self, name: str, patch: dict[str, Any]) -> None:
        await self.custom.patch_namespaced_custom_object(
            v.GROUP,
            v.VERSION,
            self.namespace,
            v.PLURAL,
            name,
            patch,
            _content_type="application/merge-patch+json",
        )

    async def wake(self, name: str) -> None:
        """What the gateway does: stamp last-activity with now."""
        await self.patch_connection(
            name, {"metadata": {"annotations": {v.ANNOTATION_LAST_ACTIVITY: now_rfc3339()}}}
        )

    async def connection(self, name: str) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                v.GROUP, v.VERSION, self.namespace, v.PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return body

    async def pods(self, connection: str | None = None) -> list[dict[str, Any]]:
        selector = f"{v.LABEL_MANAGED_BY}={v.MANAGED_BY_OPERATOR}"
        if connection:
            selector += f",{v.LABEL_CONNECTION}={connection}"
        response = await self.core.list_namespaced_pod(
            self.namespace, label_selector=selector, _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(await response.read())["items"]
        return items

    async def live_pods(self, connection: str) -> list[dict[str, Any]]:
        return [
            p for p in await self.pods(connection) if not p["metadata"].get("deletionTimestamp")
        ]

    async def secrets(self) -> list[dict[str, Any]]:
        response = await self.core.list_namespaced_secret(self.namespace, _preload_content=False)
        items: list[dict[str, Any]] = json.loads(await response.read())["items"]
        return items

    async def events(self, name: str | None = None) -> list[dict[str, Any]]:
        response = await self.core.list_namespaced_event(self.namespace, _preload_content=False)
        items: list[dict[str, Any]] = json.loads(await response.read())["items"]
        if name is not None:
            items = [e for e in items if e["involvedObject"].get("name") == name]
        return items

    async def wait_phase(
        self, name: str, phase: str, *, reason: str | None = None, within: float = 60
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            body = await self.connection(name)
            status = (body or {}).get("status") or {}
            if status.get("phase") != phase:
                return None
            if reason is not None and ready_condition(body or {}).get("reason") != reason:
                return None
            return body

        return await eventually(probe, within=within, interval=0.2, what=f"{name} {phase}")

    async def wait_no_pods(self, name: str, *, within: float = 60) -> None:
        async def probe() -> bool:
            return not await self.pods(name)

        await eventually(probe, within=within, interval=0.2, what=f"pods of {name} gone")


def ready_condition(body: dict[str, Any]) -> dict[str, Any]:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return {}


async def install_rbac(api: client.ApiClient, namespace: str) -> None:
    """The operator's manifests, with the ServiceAccount in (and bound to) the test namespace."""
    rbac = client.RbacAuthorizationV1Api(api)
    core = client.CoreV1Api(api)
    docs: list[dict[str, Any]] = []
    for path in sorted(RBAC.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
        kind = doc["kind"]
        if kind == "ClusterRole":
            with contextlib.suppress(ApiException):
                await rbac.delete_cluster_role(doc["metadata"]["name"])
            await _retry_conflict(lambda d=doc: rbac.create_cluster_role(d))
        elif kind == "ClusterRoleBinding":
            continue  # the tests run namespaced: the RoleBinding grants the ClusterRole
        elif kind == "ServiceAccount":
            doc["metadata"]["namespace"] = namespace
            await core.create_namespaced_service_account(namespace, doc)
        elif kind == "RoleBinding":
            doc["metadata"]["namespace"] = namespace
            await rbac.create_namespaced_role_binding(namespace, doc)
        elif kind == "Role":
            doc["metadata"]["namespace"] = namespace
            await rbac.create_namespaced_role(namespace, doc)


async def _retry_conflict(call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(50):
        try:
            await call()
            return
        except ApiException as error:
            if error.status != 409:
                raise
            await asyncio.sleep(0.1)


async def service_account_kubeconfig(
    api: client.ApiClient, namespace: str, admin_kubeconfig: Path, target: Path
) -> Path:
    token = await client.CoreV1Api(api).create_namespaced_service_account_token(
        "mcpod-operator",
        namespace,
        {"spec": {"audiences": [], "expirationSeconds": 7200}},
    )
    config = yaml.safe_load(admin_kubeconfig.read_text())
    config["users"] = [{"name": "mcpod-operator", "user": {"token": token.status.token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "mcpod-operator"
        context["context"]["namespace"] = namespace
    target.write_text(yaml.safe_dump(config))
    target.chmod(0o600)
    return target


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def monotonic() -> float:
    return time.monotonic()


@contextlib.asynccontextmanager
async def bridge_client(pod: dict[str, Any], uid: str, mode: str = "legacy") -> AsyncIterator[Any]:
    """An MCP SDK client to a connection pod, authenticated the way the gateway does it."""
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcpod_common.bridge_token import derive_bridge_token

    token = derive_bridge_token(ROUTING_KEY.encode(), uid)
    url = f"http://{pod['status']['podIP']}:{v.BRIDGE_PORT}/mcp"
    async with (
        httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as mcp_client,
    ):
        yield mcp_client
