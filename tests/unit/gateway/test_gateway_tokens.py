"""API tokens: created in the portal, shown once, stored hashed, verified by the bearer check."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fixtures.gateway import GatewayHarness
from fixtures.passkeys import SoftAuthenticator
from mcpod_gateway import accounts
from mcpod_gateway.auth.api_tokens import TOKEN_PREFIX, hash_token, looks_like_api_token
from mcpod_gateway.auth.bearer import TokenKind
from mcpod_gateway.models import ApiToken
from mcpod_gateway.models.base import utcnow
from sqlalchemy import text
from sqlmodel import func, select


async def dump_database(harness: GatewayHarness) -> str:
    """Every row of every table as text: where a leaked secret would show up."""
    from sqlmodel import SQLModel

    parts = []
    async with harness.app.state.sessionmaker() as db:
        for table in SQLModel.metadata.sorted_tables:
            query = text(f"SELECT * FROM {table.name}")  # noqa: S608 (names from our metadata)
            rows = (await db.exec(query)).all()  # type: ignore[call-overload]
            parts.extend(repr(tuple(r)) for r in rows)
    return "\n".join(parts)


async def token_rows(harness: GatewayHarness) -> list[ApiToken]:
    async with harness.app.state.sessionmaker() as db:
        return list((await db.exec(select(ApiToken))).all())


async def test_token_is_shown_once_stored_hashed_and_resolves_to_its_user(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user_id = await gateway.sign_up(soft_authenticator)
    token = await gateway.create_token("Claude on laptop")
    assert token.startswith(TOKEN_PREFIX)
    assert looks_like_api_token(token)
    assert len(token) == len(TOKEN_PREFIX) + 43  # 256 bits, base64url

    listing = await gateway.client.get("/tokens")
    assert "Claude on laptop" in listing.text
    assert token not in listing.text  # only the hint is shown again
    assert token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 6] in listing.text

    dump = await dump_database(gateway)
    assert token not in dump
    assert token[len(TOKEN_PREFIX) :] not in dump
    assert hash_token(token) in dump
    assert token not in caplog.text

    principal = await gateway.app.state.bearer_verifier.verify(token)
    assert principal is not None
    assert principal.user_id == user_id
    assert principal.kind is TokenKind.API_TOKEN
    assert principal.client_name == "Claude on laptop"
    (row,) = await token_rows(gateway)
    assert row.last_used_at is not None


async def test_revoked_token_is_refused_at_once(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    token = await gateway.create_token()
    verifier = gateway.app.state.bearer_verifier
    assert await verifier.verify(token) is not None  # now cached
    (row,) = await token_rows(gateway)
    revoked = await gateway.post_form(f"/tokens/{row.id}/revoke", {}, csrf_from="/tokens")
    assert revoked.status_code == 303
    assert await verifier.verify(token) is None
    page = await gateway.client.get("/tokens")
    assert "revoked" in page.text


async def test_deleted_users_token_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    user_id = await gateway.sign_up(soft_authenticator)
    token = await gateway.create_token()
    gateway.app.state.api_token_verifier.forget_all()
    async with gateway.app.state.sessionmaker() as db:
        await accounts.delete_user(db, user_id=user_id)
        await db.commit()
    # Another process deleted the user: the cache (if any) is the only delay.
    gateway.app.state.api_token_verifier.forget_all()
    assert await gateway.app.state.bearer_verifier.verify(token) is None
    assert await token_rows(gateway) == []
    assert (await gateway.client.get("/account")).status_code == 303  # session gone too


async def test_expired_token_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    token = await gateway.create_token(expires_in_days="7")
    (row,) = await token_rows(gateway)
    assert row.expires_at is not None
    assert timedelta(days=6) < row.expires_at - utcnow() <= timedelta(days=7)
    async with gateway.app.state.sessionmaker() as db:
        stored = await db.get(ApiToken, row.id)
        assert stored is not None
        stored.expires_at = utcnow() - timedelta(seconds=1)
        db.add(stored)
        await db.commit()
    gateway.app.state.api_token_verifier.forget_all()
    assert await gateway.app.state.bearer_verifier.verify(token) is None
    assert "expired" in (await gateway.client.get("/tokens")).text


@pytest.mark.parametrize(
    "token",
    [
        "",
        "mcpod_at_",
        "mcpod_at_" + "A" * 42,
        "mcpod_at_" + "A" * 44,
        "mcpod_at_" + "!" * 43,
        "other_prefix_" + "A" * 43,
    ],
)
async def test_malformed_and_unknown_tokens_are_refused(
    gateway: GatewayHarness, token: str
) -> None:
    assert await gateway.app.state.bearer_verifier.verify(token) is None


async def test_cannot_revoke_another_users_token(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator, "Owner")
    token = await gateway.create_token()
    (row,) = await token_rows(gateway)
    await gateway.post_form("/signout", {}, csrf_from="/tokens")
    await gateway.sign_up(SoftAuthenticator(), "Other")
    refused = await gateway.post_form(f"/tokens/{row.id}/revoke", {}, csrf_from="/tokens")
    assert refused.status_code == 400
    assert "No such active token" in refused.text
    assert await gateway.app.state.bearer_verifier.verify(token) is not None


BAD_NAMES = [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("x" * 65, "at most 64 characters"),
    ("line\nbreak", "control"),
    ("nul\x00byte", "control"),
    ("bidi\u202eoverride", "control"),
    ("<script>alert(1)</script>", "&lt; or &gt;"),
    ('"><img src=x onerror=alert(1)>', "&lt; or &gt;"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
async def test_bad_token_names_are_refused_and_nothing_is_stored(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, name: str, message: str
) -> None:
    await gateway.sign_up(soft_authenticator)
    page = await gateway.post_form("/tokens", {"name": name}, csrf_from="/tokens")
    assert page.status_code == 400
    assert message in page.text
    assert "<script>alert" not in page.text  # echoed input is escaped
    assert await token_rows(gateway) == []


@pytest.mark.parametrize("expiry", ["0", "-1", "367", "seven", "1e3", " 9999999999999"])
async def test_bad_expiry_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, expiry: str
) -> None:
    await gateway.sign_up(soft_authenticator)
    page = await gateway.post_form(
        "/tokens", {"name": "ok", "expires_in_days": expiry}, csrf_from="/tokens"
    )
    assert page.status_code in (400, 422)
    assert "Expiry" in page.text or "expires_in_days" in page.text
    assert await token_rows(gateway) == []


async def test_very_long_form_field_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    page = await gateway.post_form("/tokens", {"name": "x" * 5000}, csrf_from="/tokens")
    assert page.status_code == 422
    assert "at most 1000 characters" in page.text
    async with gateway.app.state.sessionmaker() as db:
        assert (await db.exec(select(func.count()).select_from(ApiToken))).one() == 0


async def test_last_used_is_written_at_most_once_a_minute(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    token = await gateway.create_token()
    verifier = gateway.app.state.api_token_verifier
    assert await verifier.verify(token) is not None
    (first,) = await token_rows(gateway)
    verifier.forget_all()
    assert await verifier.verify(token) is not None
    (second,) = await token_rows(gateway)
    assert second.last_used_at == first.last_used_at
