"""OAuth 2.1 for agents: the gateway as authorization server for ``/mcp``.

Built on authlib's framework-free core (``server.py``), with the MCP SDK's
auth vocabulary for module names: ``metadata`` (RFC 9728 / RFC 8414
discovery), ``authorize`` (consent), ``token``, ``register`` (RFC 7591),
``revoke`` (RFC 7009); ``resource`` holds the canonical resource URL and the
``WWW-Authenticate`` builders ``/mcp`` must use; ``tokens`` the access-token
verifier plugged into the composite bearer verifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from ..auth.bearer import CompositeBearerVerifier
from ..auth.rate_limit import SlidingWindowLimiter
from ..features import Feature
from ..settings import Settings
from . import authorize, metadata, portal, register, revoke, store, token
from .cimd_fetch import ClientMetadataFetcher
from .runtime import OAuthRuntime
from .server import ServerConfig
from .tokens import OAuthAccessTokenVerifier

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS: Final = 3600


@asynccontextmanager
async def oauth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    config = ServerConfig.from_settings(settings)
    verifier = OAuthAccessTokenVerifier(
        app.state.sessionmaker, resource=config.resource, cache_seconds=settings.token_cache_seconds
    )
    bearer: CompositeBearerVerifier = app.state.bearer_verifier
    bearer.add(verifier)
    app.state.oauth = OAuthRuntime(
        config=config,
        fetcher=ClientMetadataFetcher(
            allow_private=settings.oauth_cimd_allow_private, ca_file=settings.oauth_cimd_ca_file
        ),
        verifier=verifier,
        endpoint_limiter=SlidingWindowLimiter(
            limit=settings.oauth_rate_per_minute, window_seconds=60
        ),
        registration_limiter=SlidingWindowLimiter(
            limit=settings.oauth_registrations_per_hour, window_seconds=3600
        ),
        max_clients=settings.oauth_max_clients,
    )
    purger = asyncio.create_task(_purge_periodically(app), name="oauth-purge")
    try:
        yield
    finally:
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger


async def _purge_periodically(app: FastAPI) -> None:
    """Drop dead codes and token rows hourly (any replica may do it; deletes are idempotent)."""
    while True:
        try:
            async with app.state.sessionmaker() as db:
                codes, tokens = await store.purge_expired(db)
                await db.commit()
            if codes or tokens:
                log.info("purged %d expired authorization codes and %d token rows", codes, tokens)
        except Exception:  # a busy database must not end the loop; try again next hour
            log.exception("purging expired OAuth rows failed")
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)


FEATURE = Feature(
    name="oauth",
    routers=(
        metadata.router,
        authorize.router,
        token.router,
        register.router,
        revoke.router,
        portal.router,
    ),
    lifespan=oauth_lifespan,
)
