"""The isolation suite on the local backend (the embedded default), against a served gateway."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.mcp_gateway import served_gateway_env, start_served_gateway
from hypothesis import HealthCheck, given, settings
from isolation_suite import (
    World,
    build_world,
    check_colliding_slugs_reach_only_the_callers_pod,
    check_forged_headers_change_nothing,
    check_listing_shows_only_own_connections,
    check_name_trick,
    check_not_yours_looks_like_does_not_exist,
    check_revoked_and_deleted_tokens_are_refused,
)
from name_tricks import name_tricks


def _untouched(database: Path, log_dir: Path) -> Callable[[str], Callable[[], bool]]:
    def for_owner(owner: str) -> Callable[[], bool]:
        def check() -> bool:
            with sqlite3.connect(database) as db:
                row = db.execute(
                    "SELECT name, last_activity_at FROM local_connections"
                    " WHERE owner = ? AND slug = 'secret'",
                    (owner,),
                ).fetchone()
            assert row is not None
            name, last_activity = row
            # Never started: no bridge log, no activity stamp.
            return last_activity is None and not (log_dir / f"{name}.log").exists()

        return check

    return for_owner


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("isolation-local")
    env = served_gateway_env(data)
    served = start_served_gateway(env, data / "gateway.log")
    try:
        database = data / "gateway.db"
        yield build_world(env, served.url, database, _untouched(database, data / "bridges"))
    finally:
        served.stop()


def test_colliding_slugs(world: World) -> None:
    check_colliding_slugs_reach_only_the_callers_pod(world)


def test_listing(world: World) -> None:
    check_listing_shows_only_own_connections(world)


def test_not_yours_is_not_there(world: World) -> None:
    check_not_yours_looks_like_does_not_exist(world)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=name_tricks())
def test_name_tricks(world: World, name: str) -> None:
    check_name_trick(world, name)


def test_name_tricks_never_woke_the_other_connection(world: World) -> None:
    for name in (
        "secret__core_list_projects",
        "SECRET__core_list_projects",
        "secret__connection_unavailable",
    ):
        check_name_trick(world, name)
    assert world.secret_untouched()


def test_forged_headers(world: World) -> None:
    check_forged_headers_change_nothing(world)


def test_revoked_and_deleted(world: World) -> None:
    check_revoked_and_deleted_tokens_are_refused(world)
