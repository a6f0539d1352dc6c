"""OAuth token values and the ``/mcp`` check for access tokens.

Opaque tokens with a recognisable prefix (so secret scanners and the composite
bearer verifier can tell them from API tokens), 256 random bits, stored only as
SHA-256.  The verifier accepts an access token only while it is unexpired,
unrevoked, and issued for this gateway's canonical resource.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..auth.bearer import Principal, TokenKind
from ..models import OAuthClient, OAuthToken
from ..models.base import utcnow
from .resource import normalize_resource

ACCESS_TOKEN_PREFIX: Final = "mcpod_oat_"  # noqa: S105 (a prefix, not a secret)
REFRESH_TOKEN_PREFIX: Final = "mcpod_ort_"  # noqa: S105
TOKEN_BYTES: Final = 32
_ACCESS_SHAPE: Final = re.compile(rf"^{ACCESS_TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}$")


def generate_access_token() -> str:
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def generate_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def generate_code() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class _CacheEntry:
    principal: Principal
    fresh_until: float  # monotonic
    expires_at: datetime


class OAuthAccessTokenVerifier:
    """Resolves OAuth access tokens for ``/mcp`` (a ``BearerVerifier``).

    A short in-memory cache (``MCPOD_TOKEN_CACHE_SECONDS``, like API tokens)
    spares the database on every call; revocations in this process drop
    entries at once (:meth:`forget_family`, :meth:`forget_user`).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        resource: str,
        cache_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._resource = normalize_resource(resource)
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, _CacheEntry] = {}
        self._families: dict[str, str] = {}  # token hash -> family id

    def accepts(self, token: str) -> bool:
        return token.startswith(ACCESS_TOKEN_PREFIX)

    async def verify(self, token: str) -> Principal | None:
        if not _ACCESS_SHAPE.fullmatch(token):
            return None
        digest = hash_secret(token)
        entry = self._cache.get(digest)
        if entry is not None:
            if entry.fresh_until > self._clock() and entry.expires_at > utcnow():
                return entry.principal
            del self._cache[digest]
        loaded = await self._load(digest)
        if loaded is None:
            return None
        principal, expires_at, family = loaded
        if self._cache_seconds > 0:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()
                self._families.clear()
            fresh_until = self._clock() + self._cache_seconds
            self._cache[digest] = _CacheEntry(principal, fresh_until, expires_at)
            self._families[digest] = family
        return principal

    async def _load(self, digest: str) -> tuple[Principal, datetime, str] | None:
        async with self._sessionmaker() as db:
            found = (
                await db.exec(
                    select(OAuthToken, OAuthClient)
                    .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)  # type: ignore[arg-type]
                    .where(OAuthToken.access_token_hash == digest)
                )
            ).first()
        if found is None:
            return None
        row, client = found
        if row.revoked_at is not None or row.access_expires_at <= utcnow():
            return None
        # Audience check (RFC 8707 / MCP "tokens for this server only").
        if normalize_resource(row.resource) != self._resource:
            return None
        assert row.id is not None
        principal = Principal(
            user_id=row.user_id,
            kind=TokenKind.OAUTH_ACCESS,
            token_id=str(row.id),
            client_name=client.client_name,
            scopes=frozenset(row.scope.split()),
        )
        return principal, row.access_expires_at, row.family_id

    def forget_family(self, family_id: str) -> None:
        for digest in [d for d, f in self._families.items() if f == family_id]:
            self._cache.pop(digest, None)
            del self._families[digest]

    def forget_user(self, user_id: str) -> None:
        for digest in [d for d, e in self._cache.items() if e.principal.user_id == user_id]:
            del self._cache[digest]
            self._families.pop(digest, None)
