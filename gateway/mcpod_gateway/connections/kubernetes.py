"""The kubernetes backend: a connection is a McpConnection plus a Secret holding its PAT.

The gateway creates, patches and deletes Secrets but never reads one (least
privilege); pods are found through a watch-fed cache and every pod is re-checked
by :func:`mcpod_gateway.mcp.routing.select_pod` before a request goes to it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_common.vocabulary import (
    ANNOTATION_CREDENTIALS_ROTATED,
    ANNOTATION_LAST_ACTIVITY,
    API_VERSION,
    APP_NAME_CONNECTION,
    GROUP,
    KIND,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_OWNER,
    LABEL_SLUG,
    PLURAL,
    SECRET_KEY_PAT,
    VERSION,
)

from ..mcp.routing import pod_bridge_url, select_pod
from .backend import ReadyListener
from .kube_watch import WatchedCollection
from .model import (
    BackendUnavailableError,
    BridgeEndpoint,
    ConnectionNotFoundError,
    ConnectionSpec,
    ConnectionView,
    Phase,
    SlugTakenError,
)

log = logging.getLogger(__name__)

MERGE_PATCH: Final = "application/merge-patch+json"
WAKE_REPEAT_SECONDS: Final = 5.0
PAT_SECRET_SUFFIX: Final = "-pat"  # noqa: S105 - a name suffix, not a secret


async def connect_api() -> client.ApiClient:
    """In a pod: the service account; elsewhere: KUBECONFIG / ~/.kube/config."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            # A pod without a mounted token (e.g. given a kubeconfig instead): fall through.
            log.info("no in-cluster service account token; using KUBECONFIG")
    # Read KUBECONFIG now: the library's default was fixed when it was imported.
    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    return await config.new_client_from_config(config_file=path)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def connection_name(owner: str, slug: str) -> str:
    """Deterministic, so a second create of the same owner+slug collides in the API server."""
    return f"{owner}-{slug}"


def build_connection(
    *, name: str, namespace: str, owner: str, spec: ConnectionSpec
) -> dict[str, Any]:
    """The McpConnection for a new connection (pure)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            # No last-activity stamp: the creation time already counts as activity.
            "labels": {LABEL_OWNER: owner, LABEL_SLUG: spec.slug},
        },
        "spec": {
            "owner": owner,
            "slug": spec.slug,
            "credentials": {"secretRef": {"name": name + PAT_SECRET_SUFFIX}},
            **spec_fields(spec),
        },
    }


def spec_fields(spec: ConnectionSpec) -> dict[str, Any]:
    """The mutable spec fields; None removes a field in a merge patch."""
    defaults = {
        k: v for k, v in (("project", spec.default_project), ("team", spec.default_team)) if v
    }
    tools = {k: list(v) for k, v in (("allow", spec.tools_allow), ("deny", spec.tools_deny)) if v}
    return {
        "organization": spec.organization,
        "domains": list(spec.domains) or None,
        "readOnly": spec.read_only,
        "tools": tools or None,
        "defaults": defaults or None,
        "idleTimeout": spec.idle_timeout or None,
        "suspended": spec.suspended,
    }


def build_pat_secret(*, connection: Mapping[str, Any], pat: str) -> dict[str, Any]:
    meta = connection["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": connection["spec"]["credentials"]["secretRef"]["name"],
            "namespace": meta["namespace"],
            "labels": {LABEL_OWNER: connection["spec"]["owner"], LABEL_CONNECTION: meta["name"]},
            "ownerReferences": [
                {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "stringData": {SECRET_KEY_PAT: pat},
    }


def view_of(obj: Mapping[str, Any]) -> ConnectionView | None:
    """A McpConnection as a view; None if it is malformed or its owner label disagrees."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    owner = spec.get("owner")
    if not isinstance(owner, str) or (meta.get("labels") or {}).get(LABEL_OWNER) != owner:
        return None
    tools = spec.get("tools") or {}
    defaults = spec.get("defaults") or {}
    try:
        phase = Phase(status.get("phase") or "Pending")
    except ValueError:
        phase = Phase.PENDING
    message = ""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            message = str(condition.get("message") or "")
    return ConnectionView(
        name=str(meta.get("name")),
        uid=str(meta.get("uid")),
        owner=owner,
        spec=ConnectionSpec(
            slug=str(spec.get("slug", "")),
            organization=str(spec.get("organization", "")),
            domains=tuple(spec.get("domains") or ()),
            read_only=bool(spec.get("readOnly", False)),
            tools_allow=tuple(tools.get("allow") or ()),
            tools_deny=tuple(tools.get("deny") or ()),
            default_project=str(defaults.get("project") or ""),
            default_team=str(defaults.get("team") or ""),
            idle_timeout=str(spec.get("idleTimeout") or ""),
            suspended=bool(spec.get("suspended", False)),
        ),
        created=_parse_time(meta.get("creationTimestamp")) or datetime.now(UTC),
        phase=phase,
        message=message,
        last_activity=_parse_time((meta.get("annotations") or {}).get(ANNOTATION_LAST_ACTIVITY)),
        # The pinned version only: status.serverVersion appears a moment after the pod is
        # ready, and a fingerprint that changes then would discard a catalogue just taken.
        # (A new default version means a new pod, whose readiness refreshes the catalogue.)
        server_version=str(spec.get("serverVersion") or ""),
    )


class KubernetesBackend:
    kind = "kubernetes"

    def __init__(self, api: client.ApiClient, *, namespace: str, routing_key: bytes) -> None:
        self._api = api
        self._ns = namespace
        self._routing_key = routing_key
        # Typed as Any: raw dicts in and out (the generated stubs only admit model classes).
        self._core: Any = client.CoreV1Api(api)
        self._custom: Any = client.CustomObjectsApi(api)
        self.connections = WatchedCollection(
            "mcpconnections",
            self._custom.list_namespaced_custom_object,
            group=GROUP,
            version=VERSION,
            namespace=namespace,
            plural=PLURAL,
        )
        self.pods = WatchedCollection(
            "pods",
            self._core.list_namespaced_pod,
            namespace=namespace,
            label_selector=f"{LABEL_APP_NAME}={APP_NAME_CONNECTION}",
        )
        self._listeners: list[ReadyListener] = []
        self._announced: set[str] = set()  # pod names whose readiness was announced
        self._announcer: asyncio.Task[None] | None = None
        self._woken: dict[str, float] = {}

    async def start(self) -> None:
        self.connections.start()
        self.pods.start()
        try:
            await asyncio.wait_for(
                asyncio.gather(self.connections.synced.wait(), self.pods.synced.wait()), 30
            )
        except TimeoutError:
            log.error("the Kubernetes API did not answer within 30s; serving from empty caches")
        self._announcer = asyncio.create_task(self._announce_ready())

    async def close(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        await self.connections.close()
        await self.pods.close()
        await self._api.close()

    def add_ready_listener(self, listener: ReadyListener) -> None:
        self._listeners.append(listener)

    # ---- reading (from the watch cache only) ----

    def _views(self, owner: str) -> list[ConnectionView]:
        views = []
        for obj in list(self.connections.items.values()):
            view = view_of(obj)
            if view is not None and view.owner == owner:
                views.append(view)
        return sorted(views, key=lambda v: v.slug)

    async def list_connections(self, owner: str) -> list[ConnectionView]:
        return self._views(owner)

    async def get_connection(self, owner: str, slug: str) -> ConnectionView:
        for view in self._views(owner):
            if view.slug == slug:
                return view
        raise ConnectionNotFoundError(slug)

    # ---- writing ----

    async def _api_call(self, call: Awaitable[Any], *, what: str) -> Any:
        try:
            return await call
        except ApiException as exc:
            if exc.status == 404:
                raise
            if exc.status == 409:
                raise
            # Never pass on the body: for a Secret it could echo data.
            log.warning("%s failed: HTTP %s %s", what, exc.status, exc.reason)
            raise BackendUnavailableError(
                f"the cluster refused to {what} (HTTP {exc.status}); try again later"
            ) from None

    async def create_connection(self, owner: str, spec: ConnectionSpec, pat: str) -> ConnectionView:
        if any(v.slug == spec.slug for v in self._views(owner)):
            raise SlugTakenError(spec.slug)
        body = build_connection(
            name=connection_name(owner, spec.slug), namespace=self._ns, owner=owner, spec=spec
        )
        body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
        try:
            created = await self._api_call(
                self._custom.create_namespaced_custom_object(
                    GROUP, VERSION, self._ns, PLURAL, body
                ),
                what="create the connection",
            )
        except ApiException as exc:
            if exc.status == 409:
                raise SlugTakenError(spec.slug) from None
            raise BackendUnavailableError(
                f"the cluster refused the connection ({exc.reason})"
            ) from None
        try:
            await self._secret_call(
                self._core.create_namespaced_secret(
                    self._ns, build_pat_secret(connection=created, pat=pat), _preload_content=False
                ),
                what="store the token",
            )
        except BaseException:
            # No half-made connection: without its Secret the pod could never start.
            await self._delete_named(created["metadata"]["name"])
            raise
        self.connections.put(created)
        view = view_of(created)
        assert view is not None
        return view

    async def _secret_call(self, call: Awaitable[Any], *, what: str) -> None:
        """A raw Secret request: the response body is never read (it would echo the PAT)."""
        try:
            response = await call
        except ApiException as exc:
            raise BackendUnavailableError(
                f"the cluster refused to {what} (HTTP {exc.status})"
            ) from None
        status = int(response.status)
        response.release()
        if status >= 400:
            log.warning("%s failed: HTTP %s", what, status)
            raise BackendUnavailableError(f"the cluster refused to {what} (HTTP {status})")

    async def _patch_connection(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self._api_call(
                self._custom.patch_namespaced_custom_object(
                    GROUP, VERSION, self._ns, PLURAL, name, patch, _content_type=MERGE_PATCH
                ),
                what="update the connection",
            )
        except ApiException as exc:
            if exc.status == 404:
                self.connections.drop(name)
                raise ConnectionNotFoundError(name) from None
            raise BackendUnavailableError(
                f"the cluster refused the update ({exc.reason})"
            ) from None
        self.connections.put(result)
        return result

    async def update_connection(
        self, owner: str, slug: str, spec: ConnectionSpec
    ) -> ConnectionView:
        view = await self.get_connection(owner, slug)
        updated = await self._patch_connection(view.name, {"spec": spec_fields(spec)})
        result = view_of(updated)
        if result is None:
            raise ConnectionNotFoundError(slug)
        return result

    async def rotate_pat(self, owner: str, slug: str, pat: str) -> None:
        view = await self.get_connection(owner, slug)
        secret = view.name + PAT_SECRET_SUFFIX
        obj = self.connections.items.get(view.name) or {}
        secret = (
            ((obj.get("spec") or {}).get("credentials") or {})
            .get("secretRef", {})
            .get("name", secret)
        )
        await self._secret_call(
            self._core.patch_namespaced_secret(
                secret,
                self._ns,
                {"stringData": {SECRET_KEY_PAT: pat}},
                _content_type=MERGE_PATCH,
                _preload_content=False,
            ),
            what="store the new token",
        )
        # The operator cannot see Secret data: this stamp makes it replace the pod.
        await self._patch_connection(
            view.name,
            {
                "metadata": {
                    "annotations": {ANNOTATION_CREDENTIALS_ROTATED: rfc3339(datetime.now(UTC))}
                }
            },
        )

    async def _delete_named(self, name: str) -> None:
        try:
            await self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, self._ns, PLURAL, name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise BackendUnavailableError(
                    f"the cluster refused to delete the connection (HTTP {exc.status})"
                ) from None
        self.connections.drop(name)

    async def delete_connection(self, owner: str, slug: str) -> None:
        view = await self.get_connection(owner, slug)
        await self._delete_named(view.name)

    # ---- waking and routing ----

    async def wake(self, view: ConnectionView) -> None:
        # Many calls to a sleeping connection arrive together: one stamp is enough.
        now = time.monotonic()
        if now - self._woken.get(view.uid, -WAKE_REPEAT_SECONDS) < WAKE_REPEAT_SECONDS:
            return
        self._woken[view.uid] = now
        await self.record_activity(view)

    async def record_activity(self, view: ConnectionView) -> None:
        stamp = rfc3339(datetime.now(UTC))
        await self._patch_connection(
            view.name, {"metadata": {"annotations": {ANNOTATION_LAST_ACTIVITY: stamp}}}
        )

    def ready_endpoint(self, view: ConnectionView) -> BridgeEndpoint | None:
        pod = select_pod(
            self.pods.items.values(),
            owner=view.owner,
            connection=view.name,
            connection_uid=view.uid,
        )
        if pod is None:
            return None
        return BridgeEndpoint(
            url=pod_bridge_url(pod), token=derive_bridge_token(self._routing_key, view.uid)
        )

    async def wait_ready(self, view: ConnectionView, limit_seconds: float) -> BridgeEndpoint | None:
        deadline = time.monotonic() + limit_seconds
        while True:
            endpoint = self.ready_endpoint(view)
            remaining = deadline - time.monotonic()
            if endpoint is not None or remaining <= 0:
                return endpoint
            await self.pods.changed(min(remaining, 1.0))

    async def _announce_ready(self) -> None:
        """Tell listeners (the catalogue cache) about every pod that became ready."""
        while True:
            await self.pods.changed(5.0)
            for obj in list(self.connections.items.values()):
                view = view_of(obj)
                if view is None:
                    continue
                pod = select_pod(
                    self.pods.items.values(),
                    owner=view.owner,
                    connection=view.name,
                    connection_uid=view.uid,
                )
                if pod is None:
                    continue
                key = f"{pod['metadata']['name']}/{view.catalogue_fingerprint}"
                if key in self._announced:
                    continue
                self._announced.add(key)
                endpoint = BridgeEndpoint(
                    url=pod_bridge_url(pod),
                    token=derive_bridge_token(self._routing_key, view.uid),
                )
                for listener in self._listeners:
                    try:
                        await listener(view, endpoint)
                    except Exception:
                        log.exception("ready listener failed for %s", view.name)


__all__ = ["KubernetesBackend", "build_connection", "build_pat_secret", "connect_api"]
