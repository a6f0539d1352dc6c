"""The bearer-check interface, the API-token cache and name validation, without HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcpod_gateway import migrations
from mcpod_gateway.accounts import create_user
from mcpod_gateway.auth.api_tokens import ApiTokenVerifier, create_api_token, revoke_api_token
from mcpod_gateway.auth.bearer import (
    CompositeBearerVerifier,
    Principal,
    TokenKind,
    bearer_token_from_header,
)
from mcpod_gateway.db import create_engine, create_sessionmaker
from mcpod_gateway.names import InvalidNameError, clean_name


class FakeOAuthVerifier:
    """Stands in for the OAuth feature's verifier: claims its own prefix only."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def accepts(self, token: str) -> bool:
        return token.startswith("mcpod_oa_")

    async def verify(self, token: str) -> Principal | None:
        self.seen.append(token)
        return Principal("uoauth", TokenKind.OAUTH_ACCESS, "1", "Claude", frozenset({"mcp"}))


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("Bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer a b", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_from_header(header: str | None, token: str | None) -> None:
    assert bearer_token_from_header(header) == token


async def test_composite_dispatches_by_prefix(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    try:
        await migrations.upgrade(engine)
        maker = create_sessionmaker(engine)
        async with maker() as db:
            user = await create_user(db, display_name="U")
            _row, token = await create_api_token(db, user_id=user.id, name="t", expires_at=None)
            await db.commit()
        oauth = FakeOAuthVerifier()
        composite = CompositeBearerVerifier([ApiTokenVerifier(maker)])
        composite.add(oauth)
        api = await composite.verify(token)
        assert api is not None
        assert api.user_id == user.id
        assert api.kind is TokenKind.API_TOKEN
        other = await composite.verify("mcpod_oa_xyz")
        assert other is not None
        assert other.kind is TokenKind.OAUTH_ACCESS
        assert oauth.seen == ["mcpod_oa_xyz"]  # the API token never reached it
        assert await composite.verify("ghp_something") is None
        assert not composite.accepts("ghp_something")
    finally:
        await engine.dispose()


async def test_cache_serves_within_ttl_and_reloads_after(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    now = [1000.0]
    try:
        await migrations.upgrade(engine)
        maker = create_sessionmaker(engine)
        async with maker() as db:
            user = await create_user(db, display_name="U")
            row, token = await create_api_token(db, user_id=user.id, name="t", expires_at=None)
            await db.commit()
        verifier = ApiTokenVerifier(maker, cache_seconds=5, clock=lambda: now[0])
        assert await verifier.verify(token) is not None
        # Revoked by another process: this one does not know yet.
        async with maker() as db:
            assert row.id is not None
            await revoke_api_token(db, user_id=user.id, token_id=row.id)
            await db.commit()
        now[0] += 4.9
        assert await verifier.verify(token) is not None  # still cached, within the TTL
        now[0] += 0.2
        assert await verifier.verify(token) is None  # TTL passed: revocation seen
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Ada  ", "Ada"),
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),
        ("a" * 64, "a" * 64),
        ("R&D", "R&D"),
    ],
)
def test_clean_name_accepts(value: str, expected: str) -> None:
    assert clean_name(value, what="Name") == expected


@pytest.mark.parametrize("value", ["", " ", "a" * 65, "a\tb", "a\u2028b", "a<b", 3, None])
def test_clean_name_refuses(value: object) -> None:
    with pytest.raises(InvalidNameError, match=r"^Name must"):
        clean_name(value, what="Name")
