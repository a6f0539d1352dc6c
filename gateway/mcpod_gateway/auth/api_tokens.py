"""API tokens for agents: ``mcpod_at_`` + 256 random bits, stored as SHA-256.

SHA-256 (not a slow password hash) is right here: the token has 256 bits of
entropy, so there is nothing to brute-force, and a fast hash lets every request
look its token up by an indexed equality match.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import ApiToken
from ..models.base import utcnow
from .bearer import Principal, TokenKind

TOKEN_PREFIX: Final = "mcpod_at_"  # noqa: S105 (a prefix, not a secret)
TOKEN_BYTES: Final = 32  # 256 bits
_TOKEN_SHAPE: Final = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}$")
HINT_LENGTH: Final = 6
# last_used_at is for people ("used 3 minutes ago"), so one write a minute is plenty.
LAST_USED_WRITE_INTERVAL: Final = timedelta(seconds=60)
MAX_EXPIRY_DAYS: Final = 366


def generate_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_api_token(token: str) -> bool:
    return bool(_TOKEN_SHAPE.fullmatch(token))


def token_hint(token: str) -> str:
    return token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + HINT_LENGTH]


async def create_api_token(
    db: AsyncSession, *, user_id: str, name: str, expires_at: datetime | None
) -> tuple[ApiToken, str]:
    """Store a new token for the user; returns the row and the token (shown once, never stored)."""
    token = generate_api_token()
    row = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=hash_token(token),
        hint=token_hint(token),
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return row, token


async def list_api_tokens(db: AsyncSession, *, user_id: str) -> list[ApiToken]:
    result = await db.exec(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id).desc())
    )
    return list(result.all())


async def revoke_api_token(db: AsyncSession, *, user_id: str, token_id: int) -> ApiToken | None:
    """Revoke one of the user's tokens; None when the user holds no such live token."""
    row = await db.get(ApiToken, token_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return None
    row.revoked_at = utcnow()
    db.add(row)
    await db.flush()
    return row


@dataclass(frozen=True)
class _CacheEntry:
    principal: Principal
    fresh_until: float  # monotonic
    token_expires_at: datetime | None


class ApiTokenVerifier:
    """Resolves API tokens to principals, with a small, short-lived cache.

    The cache holds only valid tokens, keyed by hash, for ``cache_seconds``: a
    revocation in this process is seen at once (the portal calls
    :meth:`forget_user` / :meth:`forget_token`); one made elsewhere (another
    replica, the admin CLI) within ``cache_seconds``.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, _CacheEntry] = {}
        self._last_used_written: dict[int, datetime] = {}

    def accepts(self, token: str) -> bool:
        return token.startswith(TOKEN_PREFIX)

    async def verify(self, token: str) -> Principal | None:
        if not looks_like_api_token(token):
            return None
        digest = hash_token(token)
        now_mono = self._clock()
        entry = self._cache.get(digest)
        if entry is not None:
            expired = entry.token_expires_at is not None and entry.token_expires_at <= utcnow()
            if entry.fresh_until > now_mono and not expired:
                return entry.principal
            del self._cache[digest]
        principal, expires_at = await self._load(digest)
        if principal is not None and self._cache_seconds > 0:
            if len(self._cache) >= self._max_entries:
                self._cache.clear()  # crude but bounded; refilled within one TTL
            self._cache[digest] = _CacheEntry(principal, now_mono + self._cache_seconds, expires_at)
        return principal

    async def _load(self, digest: str) -> tuple[Principal | None, datetime | None]:
        now = utcnow()
        async with self._sessionmaker() as db:
            row = (await db.exec(select(ApiToken).where(ApiToken.token_hash == digest))).first()
            if row is None or row.revoked_at is not None:
                return None, None
            if row.expires_at is not None and row.expires_at <= now:
                return None, None
            assert row.id is not None
            last = self._last_used_written.get(row.id) or row.last_used_at
            if last is None or now - last >= LAST_USED_WRITE_INTERVAL:
                await db.exec(
                    update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=now)
                )
                await db.commit()
                if len(self._last_used_written) >= self._max_entries:
                    self._last_used_written.clear()
                self._last_used_written[row.id] = now
            principal = Principal(
                user_id=row.user_id,
                kind=TokenKind.API_TOKEN,
                token_id=str(row.id),
                client_name=row.name,
                scopes=frozenset({"mcp"}),
            )
            return principal, row.expires_at

    def forget_token(self, token_hash: str) -> None:
        self._cache.pop(token_hash, None)

    def forget_user(self, user_id: str) -> None:
        for digest in [d for d, e in self._cache.items() if e.principal.user_id == user_id]:
            del self._cache[digest]

    def forget_all(self) -> None:
        self._cache.clear()
