"""The per-connection tool catalogue cache: ``tools/list`` answers from it and never wakes a pod.

A catalogue is the bridge's tool list, stored per connection uid with the
fingerprint of what shaped it (server version, domains, read-only, allow/deny).
It is refreshed whenever the connection's bridge is up: when it becomes ready,
and after calls if it is missing or stale.  Rows live in the database (shared by
replicas, kept across restarts) and are memoised in-process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..connections.model import BridgeEndpoint, ConnectionView
from ..models import ToolCatalogue
from ..models.base import utcnow
from .forward import BridgeCallError, BridgeClient, BridgeRpcError

log = logging.getLogger(__name__)

Tools = list[dict[str, Any]]
# Pauses between attempts to take the catalogue of a bridge that just became ready.
READY_RETRY_DELAYS = (0.5, 1.0, 2.0)


class CatalogueCache:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bridges: BridgeClient,
        *,
        time_limit: float,
    ) -> None:
        self._db = sessionmaker
        self._bridges = bridges
        self._time_limit = time_limit
        self._memo: dict[str, tuple[str, Tools]] = {}
        self._inflight: dict[str, asyncio.Future[Tools | None]] = {}

    async def lookup(self, views: Sequence[ConnectionView]) -> dict[str, Tools]:
        """uid → tools, for every view whose stored catalogue matches its fingerprint."""
        found: dict[str, Tools] = {}
        missing: list[ConnectionView] = []
        for view in views:
            memo = self._memo.get(view.uid)
            if memo is not None and memo[0] == view.catalogue_fingerprint:
                found[view.uid] = memo[1]
            else:
                missing.append(view)
        if missing:
            async with self._db() as db:
                rows = await db.exec(
                    select(ToolCatalogue).where(
                        col(ToolCatalogue.connection_uid).in_([v.uid for v in missing])
                    )
                )
                stored = {r.connection_uid: r for r in rows}
            for view in missing:
                row = stored.get(view.uid)
                if row is None or row.fingerprint != view.catalogue_fingerprint:
                    continue
                tools = _decode(row.tools_json)
                if tools is not None:
                    self._memo[view.uid] = (row.fingerprint, tools)
                    found[view.uid] = tools
        return found

    async def refresh(self, view: ConnectionView, endpoint: BridgeEndpoint) -> Tools | None:
        """Fetch the tool list from the running bridge and store it; None if it failed.

        Concurrent refreshes of one connection share a single fetch.
        """
        key = f"{view.uid}/{view.catalogue_fingerprint}"
        running = self._inflight.get(key)
        if running is None:
            running = asyncio.ensure_future(self._refresh(view, endpoint))
            self._inflight[key] = running
            running.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return await asyncio.shield(running)

    async def _refresh(self, view: ConnectionView, endpoint: BridgeEndpoint) -> Tools | None:
        try:
            result = await self._bridges.request(
                endpoint, "tools/list", {}, time_limit=self._time_limit
            )
        except (BridgeCallError, BridgeRpcError) as exc:
            log.info("tool catalogue of %s not refreshed: %s", view.name, exc)
            return None
        tools = [t for t in result.get("tools") or [] if isinstance(t, dict)]
        fingerprint = view.catalogue_fingerprint
        row = ToolCatalogue(
            connection_uid=view.uid,
            owner=view.owner,
            fingerprint=fingerprint,
            tools_json=json.dumps(tools, separators=(",", ":")),
            refreshed_at=utcnow(),
        )
        for attempt in range(2):
            try:
                async with self._db() as db:
                    await db.merge(row)
                    await db.commit()
                break
            except IntegrityError:  # another replica inserted it first: merge again updates
                if attempt:
                    raise
        self._memo[view.uid] = (fingerprint, tools)
        return tools

    async def on_ready(self, view: ConnectionView, endpoint: BridgeEndpoint) -> None:
        # The backends announce a ready bridge once; a fetch lost to a busy moment
        # would leave the connection without a catalogue after it scales to zero.
        for delay in READY_RETRY_DELAYS:
            if await self.refresh(view, endpoint) is not None:
                return
            await asyncio.sleep(delay)
        await self.refresh(view, endpoint)

    def has_fresh(self, view: ConnectionView) -> bool:
        memo = self._memo.get(view.uid)
        return memo is not None and memo[0] == view.catalogue_fingerprint

    async def forget(self, uid: str) -> None:
        self._memo.pop(uid, None)
        async with self._db() as db:
            row = await db.get(ToolCatalogue, uid)
            if row is not None:
                await db.delete(row)
                await db.commit()


def _decode(text: str) -> Tools | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    return [t for t in value if isinstance(t, dict)]
