"""2025-11-25 sessions, kept in the database so any gateway replica serves any request.

The id handed to the client is random (256 bits); only its SHA-256 is stored.
A session belongs to the user who opened it: presented with another user's
token it answers exactly like an unknown session.  Lookups are memoised
briefly in-process (like verified tokens), so a busy session costs no query
per request; a deletion made on another replica takes effect within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import McpSession
from ..models.base import utcnow

MEMO_SECONDS: Final = 5.0
MAX_SESSION_ID: Final = 128


@dataclass(frozen=True)
class SessionInfo:
    user_id: str
    protocol_version: str
    client_name: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, lifetime_hours: float
    ) -> None:
        self._db = sessionmaker
        self._lifetime = timedelta(hours=lifetime_hours)
        self._memo: dict[str, tuple[float, SessionInfo]] = {}

    async def open(self, *, user_id: str, protocol_version: str, client_name: str) -> str:
        session_id = secrets.token_urlsafe(32)
        async with self._db() as db:
            db.add(
                McpSession(
                    id_hash=_hash(session_id),
                    user_id=user_id,
                    protocol_version=protocol_version,
                    client_name=client_name[:128],
                    expires_at=utcnow() + self._lifetime,
                )
            )
            await db.commit()
        return session_id

    async def find(self, session_id: str, *, user_id: str) -> SessionInfo | None:
        """The session if it exists, has not expired and belongs to ``user_id``; else None."""
        if not session_id or len(session_id) > MAX_SESSION_ID or not session_id.isascii():
            return None
        key = _hash(session_id)
        memo = self._memo.get(key)
        now = time.monotonic()
        if memo is not None and now - memo[0] < MEMO_SECONDS:
            info = memo[1]
        else:
            async with self._db() as db:
                row = await db.get(McpSession, key)
            if row is None or row.expires_at <= utcnow():
                self._memo.pop(key, None)
                return None
            info = SessionInfo(row.user_id, row.protocol_version, row.client_name)
            self._memo[key] = (now, info)
        return info if info.user_id == user_id else None

    async def close(self, session_id: str, *, user_id: str) -> bool:
        if await self.find(session_id, user_id=user_id) is None:
            return False
        key = _hash(session_id)
        self._memo.pop(key, None)
        async with self._db() as db:
            row = await db.get(McpSession, key)
            if row is not None:
                await db.delete(row)
                await db.commit()
        return True

    async def purge_expired(self) -> None:
        async with self._db() as db:
            await db.exec(delete(McpSession).where(col(McpSession.expires_at) < utcnow()))
            await db.commit()
        self._memo.clear()
