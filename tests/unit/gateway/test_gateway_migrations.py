"""Alembic on both dialects: upgrade from empty, schema matches the models, downgrade one step."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from mcpod_gateway import migrations, models
from mcpod_gateway.db import create_engine
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_one_linear_chain() -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    assert len(scripts.get_heads()) == 1, "more than one head: rebase your migration on the head"


async def test_upgrade_from_empty_matches_the_models(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        assert await migrations.current_revision(engine) is None
        await migrations.upgrade(engine)
        assert await migrations.current_revision(engine) == migrations.head_revision()

        def diff(conn: Connection) -> list[object]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
        # Running it again is a no-op (every replica does it at start).
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()


async def test_downgrade_one_step(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrations.upgrade(engine)
        head = migrations.head_revision()
        scripts = ScriptDirectory.from_config(migrations.alembic_config())
        previous = scripts.get_revision(head).down_revision
        await migrations.downgrade(engine, "-1")
        assert await migrations.current_revision(engine) == previous

        def tables(conn: Connection) -> set[str]:
            return set(inspect(conn).get_table_names())

        async with engine.connect() as conn:
            remaining = await conn.run_sync(tables)
        if previous is None:
            assert remaining <= {"alembic_version"}
        # And back up again.
        await migrations.upgrade(engine)
        async with engine.connect() as conn:
            assert {t.name for t in SQLModel.metadata.sorted_tables} <= await conn.run_sync(tables)
    finally:
        await engine.dispose()


def test_models_package_registers_every_table() -> None:
    assert set(models.__all__) >= {"User", "Passkey", "WebSession", "ApiToken", "AdminEvent"}
