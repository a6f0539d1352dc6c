"""The one module that talks to the Kubernetes API (besides kopf's own watches).

Objects go in and come out as plain dicts in the API's camelCase, the same shape kopf hands to
handlers and the builders produce. Errors become KubeError with the status code and the API's
short message, never a response body: a body for a Secret request could echo Secret data.
"""

from __future__ import annotations

import json
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


def _error(error: ApiException, *, secret: bool = False) -> KubeError:
    status = int(error.status or 0)
    if secret:
        return KubeError(status, str(error.reason or "error"))
    try:
        message = str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        message = str(error.reason)
    return KubeError(status, message[:500])


async def _discard(response: Any) -> None:
    """Release a raw response unread: decoding a whole object into models costs CPU for nothing."""
    response.release()


async def _json(response: Any) -> Any:
    """Read a raw (``_preload_content=False``) response as JSON."""
    data = await response.read()
    response.release()
    return json.loads(data)


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
        try:
            await _discard(
                await self._core.create_namespaced_pod(
                    body["metadata"]["namespace"], body, _preload_content=False
                )
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error) from None
        return True

    async def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod with its own grace period; False if it was gone already."""
        try:
            await _discard(
                await self._core.delete_namespaced_pod(name, namespace, _preload_content=False)
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise _error(error) from None
        return True

    async def list_connection_pods(self, namespace: str, connection: str) -> list[dict[str, Any]]:
        try:
            response = await self._core.list_namespaced_pod(
                namespace,
                label_selector=f"{POD_SELECTOR},{LABEL_CONNECTION}={connection}",
                _preload_content=False,
            )
        except ApiException as error:
            raise _error(error) from None
        return list((await _json(response)).get("items") or [])

    # Secrets: create only. The operator never reads one.

    async def create_secret(self, body: dict[str, Any]) -> bool:
        """Create a Secret; False if one with that name exists already."""
        try:
            await _discard(
                await self._core.create_namespaced_secret(
                    body["metadata"]["namespace"], body, _preload_content=False
                )
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error, secret=True) from None
        return True

    # McpConnections: status through this one call.

    async def patch_connection_status(
        self, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; returns the updated object."""
        try:
            response = await self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                {"status": patch},
                _content_type=MERGE_PATCH,
                _preload_content=False,
            )
        except ApiException as error:
            raise _error(error) from None
        return dict(await _json(response))

    # Events.

    async def create_event(self, body: dict[str, Any]) -> None:
        try:
            await _discard(
                await self._core.create_namespaced_event(
                    body["metadata"]["namespace"], body, _preload_content=False
                )
            )
        except ApiException as error:
            raise _error(error) from None

    # Leases (leader election).

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            response = await self._coordination.read_namespaced_lease(
                name, namespace, _preload_content=False
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise _error(error) from None
        return dict(await _json(response))

    async def create_lease(self, body: dict[str, Any]) -> bool:
        """False if another candidate created it first."""
        try:
            await _discard(
                await self._coordination.create_namespaced_lease(
                    body["metadata"]["namespace"], body, _preload_content=False
                )
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error) from None
        return True

    async def replace_lease(self, body: dict[str, Any]) -> bool:
        """False on a conflict (someone else wrote the lease since we read it)."""
        meta = body["metadata"]
        try:
            response = await self._coordination.replace_namespaced_lease(
                meta["name"], meta["namespace"], body, _preload_content=False
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise _error(error) from None
        await _discard(response)
        return True
