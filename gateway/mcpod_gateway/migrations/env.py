"""Alembic environment for both dialects (PostgreSQL via asyncpg, SQLite via aiosqlite)."""

from __future__ import annotations

import asyncio
import logging.config
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from mcpod_gateway import models  # noqa: F401  (registers every table)
from mcpod_gateway.db import create_engine
from mcpod_gateway.migrations import PG_MIGRATION_LOCK
from mcpod_gateway.models.base import UTCDateTime
from mcpod_gateway.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Keep generated migrations free of imports from the models: they must keep
    # working after the models change.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        # SQLite cannot ALTER most things in place: batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    if connection.dialect.name == "postgresql":
        # Held until the surrounding transaction ends: replicas migrate one at a time.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_configure_and_run)
    finally:
        await engine.dispose()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().effective_database_url


given = config.attributes.get("connection")
if given is not None:
    # Called by the gateway from inside its event loop, on one of its connections.
    _configure_and_run(given)
elif context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    if config.config_file_name is not None and not logging.getLogger().handlers:
        logging.config.fileConfig(config.config_file_name)
    asyncio.run(_run_with_own_engine(_url()))
