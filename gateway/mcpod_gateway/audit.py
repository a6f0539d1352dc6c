"""The tool-call audit: one row per ``tools/call`` (time, user, connection, tool, outcome,
duration, client) — never arguments, results, tokens or PATs.

Rows are buffered and written in small batches off the request path, so the
audit costs a call no database round trip; the buffer is flushed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .models import ToolCall
from .models.base import utcnow

log = logging.getLogger(__name__)

FLUSH_INTERVAL: Final = 0.5
FLUSH_BATCH: Final = 1000
MAX_BUFFER: Final = 10_000


class Outcome(StrEnum):
    OK = "ok"  # the upstream answered
    TOOL_ERROR = "tool_error"  # the upstream answered with isError (e.g. Azure DevOps refused)
    DENIED = "denied"  # read-only or allow/deny refused it in the gateway
    NOT_FOUND = "not_found"  # no such tool or connection for this caller
    UNAVAILABLE = "unavailable"  # suspended, or the connection could not start in time
    TIMEOUT = "timeout"  # no answer within the call timeout
    UPSTREAM_ERROR = "upstream_error"  # the bridge or upstream failed


@dataclass(frozen=True)
class AuditEntry:
    user_id: str
    connection: str
    tool: str
    outcome: Outcome
    duration_ms: int
    client_name: str
    token_kind: str
    at: datetime

    def row(self) -> dict[str, object]:
        """The ``tool_calls`` row: plain values for a bulk insert (no ORM object per call)."""
        return {
            "at": self.at,
            "user_id": self.user_id,
            "connection": self.connection[:64],
            "tool": self.tool[:128],
            "outcome": str(self.outcome),
            "duration_ms": max(0, self.duration_ms),
            "client_name": self.client_name[:128],
            "token_kind": self.token_kind[:16],
        }


class AuditWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._db = sessionmaker
        self._buffer: list[AuditEntry] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, entry: AuditEntry) -> None:
        if len(self._buffer) >= MAX_BUFFER:
            log.error("audit buffer full; dropping the oldest entry")
            self._buffer.pop(0)
        self._buffer.append(entry)
        if len(self._buffer) >= FLUSH_BATCH:
            self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), FLUSH_INTERVAL)
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing the audit failed; will retry")

    async def flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            async with self._db() as db:
                # One executemany of a Core insert on the table: ORM objects (or the ORM's
                # bulk path) cost more CPU than the requests they audit.
                table = ToolCall.__table__  # type: ignore[attr-defined]
                await db.exec(insert(table), params=[e.row() for e in batch])
                await db.commit()
        except Exception:
            self._buffer = batch + self._buffer  # keep them for the next try
            raise


async def purge_expired(db: AsyncSession, *, retention_days: int) -> int:
    cutoff = utcnow() - timedelta(days=retention_days)
    result = await db.exec(delete(ToolCall).where(col(ToolCall.at) < cutoff))
    await db.commit()
    return int(result.rowcount or 0)


async def page_for_user(
    db: AsyncSession, *, user_id: str, page: int, per_page: int
) -> tuple[list[ToolCall], bool]:
    """One page (1-based) of the user's own rows, newest first, and whether more follow."""
    rows = list(
        await db.exec(
            select(ToolCall)
            .where(ToolCall.user_id == user_id)
            .order_by(col(ToolCall.at).desc(), col(ToolCall.id).desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return rows[:per_page], len(rows) > per_page
