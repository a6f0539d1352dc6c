"""The ``/mcp`` feature: owns the connection backend, the bridge client, the catalogue
cache, the session store and the audit writer for the app's lifetime.

Puts on ``app.state``: ``mcp_settings``, ``connection_backend`` (also used by the
portal), ``mcp`` (:class:`McpServices`), ``mcp_sessions``, ``mcp_header_pairs``.
Serves ``/mcp`` as a direct endpoint (ahead of the middleware stack and the router).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from ..audit import AuditWriter, purge_expired
from ..connections.factory import build_backend
from ..features import Feature
from .activity import ActivityThrottle
from .catalogue import CatalogueCache
from .endpoint import mcp_asgi, response_header_pairs
from .forward import BridgeClient
from .proxy import McpServices
from .sessions import SessionStore
from .settings import McpSettings

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL: Final = 3600.0
CATALOGUE_FETCH_LIMIT: Final = 30.0


@asynccontextmanager
async def mcp_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One log line per forwarded request would cost more than the forwarding itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = app.state.settings
    mcp_settings: McpSettings = getattr(app.state, "mcp_settings", None) or McpSettings()
    app.state.mcp_settings = mcp_settings
    maker = app.state.sessionmaker
    backend = await build_backend(settings, app.state.keys, maker, mcp_settings)
    bridges = BridgeClient()
    catalogue = CatalogueCache(maker, bridges, time_limit=CATALOGUE_FETCH_LIMIT)
    audit = AuditWriter(maker)
    sessions = SessionStore(maker, lifetime_hours=mcp_settings.mcp_session_hours)
    services = McpServices(
        backend=backend,
        catalogue=catalogue,
        bridges=bridges,
        audit=audit,
        activity=ActivityThrottle(mcp_settings.activity_throttle_seconds),
        call_timeout=mcp_settings.mcp_call_timeout_seconds,
        wake_timeout=mcp_settings.mcp_wake_timeout_seconds,
    )
    backend.add_ready_listener(catalogue.on_ready)
    await backend.start()
    await audit.start()
    app.state.connection_backend = backend
    app.state.mcp = services
    app.state.mcp_sessions = sessions
    app.state.mcp_header_pairs = response_header_pairs(https=settings.secure_cookies)

    async def maintain() -> None:
        while True:
            try:
                async with maker() as db:
                    removed = await purge_expired(
                        db, retention_days=mcp_settings.audit_retention_days
                    )
                if removed:
                    log.info("removed %d audit rows past the retention period", removed)
                await sessions.purge_expired()
            except Exception:
                log.exception("audit/session maintenance failed")
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    maintenance = asyncio.create_task(maintain())
    try:
        yield
    finally:
        maintenance.cancel()
        await asyncio.wait([maintenance])
        await audit.close()
        await backend.close()
        await bridges.close()


FEATURE = Feature(name="mcp", endpoints={"/mcp": mcp_asgi}, lifespan=mcp_lifespan)
