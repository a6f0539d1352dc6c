"""The one module that talks to the Kubernetes API (besides kopf's own watches).

Objects go in and come out as plain dicts in the API's camelCase, the same shape kopf hands to
handlers and the builders produce. Errors become KubeError with the status code and the API's
short message, never a response body: a body for a Secret request could echo Secret data.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, Final

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_common.vocabulary import (
    APP_NAME_CONNECTION,
    GROUP,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_MANAGED_BY,
    MANAGED_BY_OPERATOR,
    PLURAL,
    VERSION,
)

MERGE_PATCH: Final = "application/merge-patch+json"

POD_SELECTOR: Final = (
    f"{LABEL_APP_NAME}={APP_NAME_CONNECTION},{LABEL_MANAGED_BY}={MANAGED_BY_OPERATOR}"
)


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


async def _call(
    call: Awaitable[Any], *, secret: bool = False, allow: tuple[int, ...] = ()
) -> tuple[int, Any]:
    """Run a raw (``_preload_content=False``) request: (status, parsed JSON or None).

    Raw responses skip decoding whole objects into model classes (CPU for nothing) but are not
    raised as exceptions, so the status is checked here. A status listed in ``allow`` is returned;
    any other error becomes a KubeError. For Secrets the body is never read: it could echo data.
    """
    try:
        response = await call
    except ApiException as error:  # raised before the request is sent (e.g. bad arguments)
        raise KubeError(int(error.status or 0), str(error.reason)) from None
    status = int(response.status)
    try:
        if status < 400:
            return status, (None if secret else json.loads(await response.read() or b"null"))
        if status in allow:
            return status, None
        if secret:
            raise KubeError(status, str(response.reason or "error"))
        try:
            message = str(json.loads(await response.read()).get("message") or response.reason)
        except (ValueError, AttributeError):
            message = str(response.reason)
        raise KubeError(status, message[:500])
    finally:
        response.release()


class KubeApi:
    """Thin async calls the controller and leader election need, nothing more (least privilege)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        # Typed as Any: we pass and read raw dicts (the client sends them as they are), while its
        # stubs only admit the generated model classes.
        self._core: Any = client.CoreV1Api(api_client)
        self._custom: Any = client.CustomObjectsApi(api_client)
        self._coordination: Any = client.CoordinationV1Api(api_client)

    # Pods: create, delete, list (the watch is kopf's).

    async def create_pod(self, body: dict[str, Any]) -> bool:
        """Create a pod; False if one with that name exists already."""
        namespace = body["metadata"]["namespace"]
        status, _ = await _call(
            self._core.create_namespaced_pod(namespace, body, _preload_content=False),
            allow=(409,),
        )
        return status != 409

    async def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod with its own grace period; False if it was gone already."""
        status, _ = await _call(
            self._core.delete_namespaced_pod(name, namespace, _preload_content=False),
            allow=(404,),
        )
        return status != 404

    async def list_connection_pods(self, namespace: str, connection: str) -> list[dict[str, Any]]:
        _, data = await _call(
            self._core.list_namespaced_pod(
                namespace,
                label_selector=f"{POD_SELECTOR},{LABEL_CONNECTION}={connection}",
                _preload_content=False,
            )
        )
        return list(data.get("items") or [])

    # Secrets: create only. The operator never reads one.

    async def create_secret(self, body: dict[str, Any]) -> bool:
        """Create a Secret; False if one with that name exists already."""
        namespace = body["metadata"]["namespace"]
        status, _ = await _call(
            self._core.create_namespaced_secret(namespace, body, _preload_content=False),
            secret=True,
            allow=(409,),
        )
        return status != 409

    # McpConnections: status through this one call.

    async def patch_connection_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the updated object."""
        _, data = await _call(
            self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": patch},
                _content_type=MERGE_PATCH,
                _preload_content=False,
            )
        )
        return dict(data)

    # Events.

    async def create_event(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        await _call(self._core.create_namespaced_event(namespace, body, _preload_content=False))

    # Leases (leader election).

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        status, data = await _call(
            self._coordination.read_namespaced_lease(name, namespace, _preload_content=False),
            allow=(404,),
        )
        return None if status == 404 else dict(data)

    async def create_lease(self, body: dict[str, Any]) -> bool:
        """False if another candidate created it first."""
        namespace = body["metadata"]["namespace"]
        status, _ = await _call(
            self._coordination.create_namespaced_lease(namespace, body, _preload_content=False),
            allow=(409,),
        )
        return status != 409

    async def replace_lease(self, body: dict[str, Any]) -> bool:
        """False on a conflict (someone else wrote the lease since we read it)."""
        meta = body["metadata"]
        status, _ = await _call(
            self._coordination.replace_namespaced_lease(
                meta["name"], meta["namespace"], body, _preload_content=False
            ),
            allow=(409,),
        )
        return status != 409
