"""The /mcp isolation suite again, with every agent holding an OAuth access token instead of
an API token: the tokens are obtained through the real authorization flow of a served gateway
(registration, consent, code with PKCE, token exchange)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.mcp_gateway import admin_cli, served_gateway_env, start_served_gateway
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
from support.oauth_flow import hidden_fields, new_auth_request, redirect_query
from test_gateway_mcp_isolation_local import _untouched

PUBLIC_URL = "http://localhost:8000"  # what served_gateway_env configures
REDIRECT = "http://127.0.0.1:47400/callback"


def browser_session(database_url: str, user_id: str) -> str:
    """A portal session for a user made by the admin CLI (no passkey to sign in with)."""
    from mcpod_gateway.auth.sessions import start_web_session
    from mcpod_gateway.db import create_engine, create_sessionmaker
    from mcpod_gateway.settings import Settings
    from starlette.responses import Response

    settings = Settings(public_url=PUBLIC_URL, dev=True)

    async def mint() -> str:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as db:
                token = await start_web_session(
                    db, Response(), settings, user_id=user_id, previous=None
                )
                await db.commit()
                return token
        finally:
            await engine.dispose()

    return asyncio.run(mint())


def oauth_access_token(base: str, session: str, client_id: str) -> tuple[str, str]:
    """Consent and exchange through the gateway's endpoints; returns (access, refresh)."""
    auth = new_auth_request(client_id, REDIRECT)
    auth.resource = PUBLIC_URL + "/mcp"
    with httpx.Client(base_url=base, headers={"accept": "text/html"}, timeout=30) as http:
        http.cookies.set("mcpod_session", session, domain="127.0.0.1")
        page = http.get(auth.url())
        assert page.status_code == 200, page.text[:300]
        approved = http.post(
            "/authorize",
            data={**dict(hidden_fields(page.text)), "decision": "allow"},
            headers={"origin": PUBLIC_URL, "sec-fetch-site": "same-origin"},
        )
        code = redirect_query(approved)["code"]
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": client_id,
                "code_verifier": auth.verifier,
                "resource": auth.resource,
            },
        )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["access_token"], tokens.json()["refresh_token"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("isolation-oauth")
    env = served_gateway_env(data)
    served = start_served_gateway(env, data / "gateway.log")
    try:
        database = data / "gateway.db"
        database_url = f"sqlite+aiosqlite:///{database}"
        api_world = build_world(env, served.url, database, _untouched(database, data / "bridges"))
        base = f"http://127.0.0.1:{served.port}"
        registered = httpx.post(
            base + "/register", json={"client_name": "Isolation agent", "redirect_uris": [REDIRECT]}
        )
        client_id = registered.json()["client_id"]

        def user_id(name: str) -> str:
            with sqlite3.connect(database) as db:
                row = db.execute("SELECT id FROM users WHERE display_name = ?", (name,)).fetchone()
            return str(row[0])

        def token_for(uid: str) -> tuple[str, str]:
            return oauth_access_token(base, browser_session(database_url, uid), client_id)

        alice, _ = token_for(api_world.alice_id)
        bob, _ = token_for(api_world.bob_id)
        carol, _ = token_for(user_id("carol"))
        revoked, revoked_refresh = token_for(user_id("revoked"))
        assert (
            httpx.post(
                base + "/revoke", data={"token": revoked_refresh, "client_id": client_id}
            ).status_code
            == 200
        )
        deleted_id = admin_cli(env, "create-user", "--name", "deleted-oauth")
        deleted, _ = token_for(deleted_id)
        admin_cli(env, "delete-user", "--user", deleted_id)
        assert all(t.startswith("mcpod_oat_") for t in (alice, bob, carol, revoked, deleted))
        yield dataclasses.replace(
            api_world, alice=alice, bob=bob, carol=carol, revoked=revoked, deleted=deleted
        )
    finally:
        served.stop()


def test_colliding_slugs_with_oauth_tokens(world: World) -> None:
    check_colliding_slugs_reach_only_the_callers_pod(world)


def test_listing_with_oauth_tokens(world: World) -> None:
    check_listing_shows_only_own_connections(world)


def test_not_yours_is_not_there_with_oauth_tokens(world: World) -> None:
    check_not_yours_looks_like_does_not_exist(world)


def test_name_tricks_with_oauth_tokens(world: World) -> None:
    for name in (
        "secret__core_list_projects",
        "SECRET__core_list_projects",
        "work__core_list_projects\u200b",
        "work__../secret__core_list_projects",
        "secret__connection_unavailable",
    ):
        check_name_trick(world, name)
    assert world.secret_untouched()


def test_forged_headers_with_oauth_tokens(world: World) -> None:
    check_forged_headers_change_nothing(world)


def test_revoked_and_deleted_oauth_tokens_are_refused(world: World) -> None:
    check_revoked_and_deleted_tokens_are_refused(world)


def test_gateway_log_holds_no_oauth_tokens(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = list(Path(tmp_path_factory.getbasetemp()).rglob("isolation-oauth*/gateway.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        assert world.alice not in text
        assert "mcpod_ort_" not in text
