"""Fixtures for the authorization-server tests: a gateway with a signed-in person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fixtures.gateway import GatewayHarness, running_gateway
from fixtures.passkeys import SoftAuthenticator
from support.oauth_flow import LOOPBACK_REDIRECT, SignedIn, register_client


async def _signed_in(gw: GatewayHarness) -> SignedIn:
    user_id = await gw.sign_up(SoftAuthenticator(), "Ada")
    registered = await register_client(gw.client, [LOOPBACK_REDIRECT])
    assert registered.status_code == 201, registered.text
    return SignedIn(gw, user_id, registered.json()["client_id"])


@pytest.fixture
async def signed_in(gateway: GatewayHarness) -> SignedIn:
    """Both dialects (SQLite and PostgreSQL): for the rules that rely on the database."""
    return await _signed_in(gateway)


@pytest.fixture
async def signed_in_sqlite(tmp_path: Path) -> AsyncIterator[SignedIn]:
    """SQLite only: for request-validation rules that do not depend on the dialect."""
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}", tmp_path) as gw:
        yield await _signed_in(gw)
