"""``UserProxy``: tools/list and tools/call for exactly one user, built per request.

Everything it can reach goes through ``backend.*(owner=principal.user_id, …)``,
so no code path here can name another user's connection: a slug that is not the
caller's is answered exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..audit import AuditEntry, AuditWriter, Outcome
from ..auth.bearer import Principal
from ..connections.backend import ConnectionBackend
from ..connections.model import (
    BridgeEndpoint,
    ConnectionNotFoundError,
    ConnectionView,
    Phase,
)
from ..models.base import utcnow
from . import naming
from .activity import ActivityThrottle
from .catalogue import CatalogueCache
from .forward import BridgeCallError, BridgeClient, BridgeRpcError
from .protocol import INVALID_PARAMS, RpcError, text_result

log = logging.getLogger(__name__)

INLINE_REFRESH_LIMIT: Final = 10.0
_background: set[asyncio.Task[Any]] = set()

LIST_CONNECTIONS_TOOL: Final = {
    "name": naming.LIST_CONNECTIONS,
    "title": "List my Azure DevOps connections",
    "description": (
        "Lists your Azure DevOps connections: the name used as the tool prefix "
        "(<connection>__<tool>), the organization, whether it is running, read-only or "
        "suspended, and when it was last used."
    ),
    "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    "annotations": {"readOnlyHint": True, "openWorldHint": False},
}


@dataclass
class McpServices:
    """The long-lived parts every per-request proxy uses (owned by the feature's lifespan)."""

    backend: ConnectionBackend
    catalogue: CatalogueCache
    bridges: BridgeClient
    audit: AuditWriter
    activity: ActivityThrottle
    call_timeout: float
    wake_timeout: float


def _spawn(coro: Any) -> None:
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


def unknown_tool(name: str) -> RpcError:
    # The same words whether the slug is someone else's or nobody's.
    return RpcError(INVALID_PARAMS, f"Unknown tool: {name}")


def marker_tool(view: ConnectionView) -> dict[str, Any] | None:
    name = naming.qualified_name(view.slug, naming.UNAVAILABLE_MARKER)
    if name is None:
        return None
    if view.phase is Phase.SUSPENDED:
        why = "it is suspended (resume it in the portal)"
    elif view.phase is Phase.FAILED:
        why = f"it failed to start ({view.message or 'see the portal'})"
    else:
        why = "its tools are not known yet because it has not run since it was set up or changed"
    return {
        "name": name,
        "title": f"{view.slug}: connection unavailable",
        "description": (
            f"The Azure DevOps connection {view.slug!r} (organization {view.spec.organization}) "
            f"cannot list its tools: {why}. Call this tool to start it; then list tools again."
        ),
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    }


def prefixed_tools(view: ConnectionView, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The connection's tools as the agent sees them, filtered again by the gateway's policy."""
    listed = []
    for tool in view.spec.policy.filter_tools(tools):
        name = naming.qualified_name(view.slug, str(tool.get("name", "")))
        if name is None:
            log.warning("tool %r of %s cannot be named within 64 characters", tool, view.name)
            continue
        listed.append({**tool, "name": name})
    return listed


class UserProxy:
    def __init__(self, principal: Principal, services: McpServices) -> None:
        self.principal = principal
        self.s = services

    @property
    def owner(self) -> str:
        return self.principal.user_id

    # ---- tools/list ----

    async def list_tools(self) -> list[dict[str, Any]]:
        views = await self.s.backend.list_connections(self.owner)
        catalogues = await self.s.catalogue.lookup(views)
        tools: list[dict[str, Any]] = [dict(LIST_CONNECTIONS_TOOL)]
        for view in views:
            found = catalogues.get(view.uid)
            if found is None and not view.spec.suspended:
                # No catalogue: take one only if the bridge is already up (never wake here).
                endpoint = self.s.backend.ready_endpoint(view)
                if endpoint is not None:
                    found = await self._refresh_bounded(view, endpoint)
            if found is None or view.spec.suspended:
                marker = marker_tool(view)
                if marker is not None:
                    tools.append(marker)
                continue
            tools.extend(prefixed_tools(view, found))
        return tools

    async def _refresh_bounded(
        self, view: ConnectionView, endpoint: BridgeEndpoint
    ) -> list[dict[str, Any]] | None:
        try:
            return await asyncio.wait_for(
                self.s.catalogue.refresh(view, endpoint), INLINE_REFRESH_LIMIT
            )
        except TimeoutError:
            return None

    # ---- tools/call ----

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        connection = ""
        outcome = Outcome.UPSTREAM_ERROR
        try:
            if name == naming.LIST_CONNECTIONS:
                outcome = Outcome.OK
                return await self._list_connections()
            parsed = naming.split_name(name)
            if parsed is None:
                outcome = Outcome.NOT_FOUND
                raise unknown_tool(name)
            slug, tool = parsed
            try:
                view = await self.s.backend.get_connection(self.owner, slug)
            except ConnectionNotFoundError:
                outcome = Outcome.NOT_FOUND
                raise unknown_tool(name) from None
            connection = view.slug
            if tool == naming.UNAVAILABLE_MARKER:
                result, outcome = await self._start_for_marker(view)
                return result
            refusal = view.spec.policy.refusal(tool, dict(arguments))
            if refusal is not None:
                outcome = Outcome.DENIED
                return text_result(f"refused: {refusal}", is_error=True)
            result, outcome = await self._forward_call(view, tool, arguments)
            return result
        finally:
            self._audit(connection, name, outcome, started)

    async def _forward_call(
        self, view: ConnectionView, tool: str, arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Outcome]:
        if view.spec.suspended:
            return (
                text_result(
                    f"the connection {view.slug!r} is suspended; resume it in the portal",
                    is_error=True,
                ),
                Outcome.UNAVAILABLE,
            )
        endpoint = await self._ready_endpoint(view)
        if endpoint is None:
            return (
                text_result(
                    f"the connection {view.slug!r} did not become ready within "
                    f"{self.s.wake_timeout:g}s; try again in a moment, or check it in the portal",
                    is_error=True,
                ),
                Outcome.UNAVAILABLE,
            )
        self._bump(view)
        try:
            result = await self.s.bridges.request(
                endpoint,
                "tools/call",
                {"name": tool, "arguments": dict(arguments)},
                time_limit=self.s.call_timeout,
            )
        except BridgeCallError as exc:
            outcome = Outcome.TIMEOUT if exc.kind == "timeout" else Outcome.UPSTREAM_ERROR
            return (
                text_result(f"the connection {view.slug!r}: {exc}", is_error=True),
                outcome,
            )
        except BridgeRpcError as exc:
            if exc.message.startswith("refused:"):
                return text_result(exc.message, is_error=True), Outcome.DENIED
            raise RpcError(exc.code, f"{view.slug}: {exc.message}") from None
        if not self.s.catalogue.has_fresh(view):
            _spawn(self.s.catalogue.refresh(view, endpoint))
        return result, (Outcome.TOOL_ERROR if result.get("isError") else Outcome.OK)

    async def _ready_endpoint(self, view: ConnectionView) -> BridgeEndpoint | None:
        endpoint = self.s.backend.ready_endpoint(view)
        if endpoint is not None:
            return endpoint
        await self.s.backend.wake(view)
        self.s.activity.due(view.uid)  # waking already stamped the activity
        return await self.s.backend.wait_ready(view, self.s.wake_timeout)

    async def _start_for_marker(self, view: ConnectionView) -> tuple[dict[str, Any], Outcome]:
        if view.spec.suspended:
            return (
                text_result(f"{view.slug!r} is suspended; resume it in the portal", is_error=True),
                Outcome.UNAVAILABLE,
            )
        endpoint = await self._ready_endpoint(view)
        if endpoint is None:
            return (
                text_result(f"{view.slug!r} did not become ready in time", is_error=True),
                Outcome.UNAVAILABLE,
            )
        tools = await self.s.catalogue.refresh(view, endpoint)
        count = len(prefixed_tools(view, tools or []))
        return (
            text_result(
                f"{view.slug!r} is running with {count} tools; list the tools again to see them",
                is_error=False,
            ),
            Outcome.OK,
        )

    async def _list_connections(self) -> dict[str, Any]:
        views = await self.s.backend.list_connections(self.owner)
        items = [
            {
                "connection": v.slug,
                "organization": v.spec.organization,
                "state": str(v.phase),
                "readOnly": v.spec.read_only,
                "domains": list(v.spec.domains) or "all",
                "lastActive": v.last_activity.isoformat() if v.last_activity else None,
            }
            for v in views
        ]
        return text_result(json.dumps({"connections": items}, indent=1), is_error=False)

    def _bump(self, view: ConnectionView) -> None:
        if self.s.activity.due(view.uid):
            _spawn(self._record_activity(view))

    async def _record_activity(self, view: ConnectionView) -> None:
        try:
            await self.s.backend.record_activity(view)
        except Exception:
            log.warning("could not record activity of %s", view.name, exc_info=True)

    def _audit(self, connection: str, tool: str, outcome: Outcome, started: float) -> None:
        self.s.audit.record(
            AuditEntry(
                user_id=self.owner,
                connection=connection,
                tool=tool,
                outcome=outcome,
                duration_ms=int((time.monotonic() - started) * 1000),
                client_name=self.principal.client_name,
                token_kind=str(self.principal.kind),
                at=utcnow(),
            )
        )
