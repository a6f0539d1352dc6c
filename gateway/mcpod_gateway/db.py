"""The async database engine and the per-request session dependency.

PostgreSQL through asyncpg (clusters) and SQLite through aiosqlite (the
embedded default).  The engine is created by the app's lifespan and reached
through ``request.app.state``; nothing here is a module-level global.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SUPPORTED_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")


class DatabaseUrlError(ValueError):
    pass


def check_database_url(url: str) -> str:
    """Raise DatabaseUrlError (naming MCPOD_DATABASE_URL) for an unsupported URL."""
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy raises ArgumentError, or ValueError for bad ports
        raise DatabaseUrlError("MCPOD_DATABASE_URL is not a valid database URL") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise DatabaseUrlError(
            f"MCPOD_DATABASE_URL must start with one of {', '.join(SUPPORTED_DRIVERS)} "
            f"(got {parsed.drivername}://…)"
        )
    return url


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    check_database_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if parsed.drivername.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite (so ON DELETE CASCADE would be
    # ignored); WAL lets readers run during the single writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_sessionmaker(request)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
