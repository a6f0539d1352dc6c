"""The whole OAuth flow with real clients: the MCP Python SDK's OAuth client against a running
gateway (``mcpod-gateway serve`` on 127.0.0.1), the person's part in headless Chromium with a
virtual passkey: sign-in, consent, callback; then refresh, revocation, the agents page, and a
client identified by a metadata document served over https."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.gateway import LiveGateway, live_gateway
from support.oauth_agent import (
    CHROMIUM,
    MemoryTokenStorage,
    browser_person,
    oauth_agent,
    oauth_provider,
)
from support.tls_server import ThrowawayCa, TlsDocumentServer, make_test_ca, tls_document_server

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM}"
)

CALLBACK_PORT = 47123
REDIRECT_URI = f"http://127.0.0.1:{CALLBACK_PORT}/callback"


@pytest.fixture(scope="module")
def throwaway_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCa:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def docs(throwaway_ca: ThrowawayCa) -> Iterator[TlsDocumentServer]:
    with tls_document_server(throwaway_ca) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, throwaway_ca: ThrowawayCa
) -> Iterator[LiveGateway]:
    with live_gateway(
        tmp_path_factory.mktemp("oauth-gateway"),
        MCPOD_TOKEN_CACHE_SECONDS="0",
        MCPOD_OAUTH_CIMD_ALLOW_PRIVATE="1",
        MCPOD_OAUTH_CIMD_CA_FILE=str(throwaway_ca.ca_file),
    ) as gw:
        yield gw


def tool_names(listing: Any) -> set[str]:
    return {tool.name for tool in listing.tools}


def stored_clients(gw: LiveGateway) -> list[tuple[str, str]]:
    path = gw.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT client_id, kind FROM oauth_clients"))


async def test_sdk_client_registers_signs_in_consents_refreshes_and_is_revoked(
    gateway: LiveGateway,
) -> None:
    mcp_url = gateway.url + "/mcp"
    async with browser_person(f"http://127.0.0.1:{CALLBACK_PORT}/") as person:
        await person.sign_up(gateway.url, "Ada")
        await person.sign_out(gateway.url)
        storage = MemoryTokenStorage()
        provider = oauth_provider(mcp_url, person, storage, redirect_uri=REDIRECT_URI)

        async with oauth_agent(mcp_url, provider) as agent:
            assert "list_connections" in tool_names(await agent.list_tools())
        # The person signed in with the passkey, then saw and approved the consent page.
        assert person.steps == ["sign-in", "consent"]
        callback = person.last_callback()
        assert callback["iss"] == gateway.url
        assert storage.client_info.client_id.startswith("mcpod_client_")  # registered (DCR)
        first = storage.tokens
        assert first.access_token.startswith("mcpod_oat_")
        assert first.refresh_token.startswith("mcpod_ort_")

        # Refresh: the SDK renews an expired access token with the rotated refresh token.
        provider.context.token_expiry_time = 1.0
        async with oauth_agent(mcp_url, provider) as agent:
            assert "list_connections" in tool_names(await agent.list_tools())
        second = storage.tokens
        assert second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token
        async with httpx.AsyncClient() as http:
            # RFC 7009 revocation by the agent itself.
            revoked = await http.post(
                gateway.url + "/revoke",
                data={"token": second.refresh_token, "client_id": storage.client_info.client_id},
            )
            assert revoked.status_code == 200
            refused = await http.post(
                mcp_url,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {second.access_token}"},
            )
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]

        # The next call re-authorizes; the consent is remembered, so no consent page.
        person.steps.clear()
        async with oauth_agent(mcp_url, provider) as agent:
            assert "list_connections" in tool_names(await agent.list_tools())
        assert person.steps == []  # still signed in, consent remembered

        # The person revokes the agent in the portal: its token stops working at once and
        # the next authorization asks for consent again.
        await person.page.goto(gateway.url + "/oauth/clients")
        assert "mcpod e2e agent" in await person.page.inner_text("#granted-clients")
        await person.page.click("#granted-clients button.danger")
        await person.page.wait_for_selector("#no-clients")
        async with httpx.AsyncClient() as http:
            after = await http.post(
                mcp_url,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {storage.tokens.access_token}"},
            )
        assert after.status_code == 401
        person.steps.clear()
        async with oauth_agent(mcp_url, provider) as agent:
            assert "list_connections" in tool_names(await agent.list_tools())
        assert person.steps == ["consent"]


async def test_sdk_client_denied_gets_no_token(gateway: LiveGateway) -> None:
    mcp_url = gateway.url + "/mcp"
    async with browser_person(f"http://127.0.0.1:{CALLBACK_PORT}/") as person:
        await person.sign_up(gateway.url, "Bob")
        person.decision = "deny"
        storage = MemoryTokenStorage()
        provider = oauth_provider(mcp_url, person, storage, redirect_uri=REDIRECT_URI)
        with pytest.raises(Exception):  # noqa: B017,PT011 (the SDK wraps the callback's error)
            async with oauth_agent(mcp_url, provider) as agent:
                await agent.list_tools()
        assert person.steps == ["consent"]
        assert person.last_callback()["error"] == "access_denied"
        assert storage.tokens is None


async def test_sdk_client_with_a_client_id_metadata_document(
    gateway: LiveGateway, docs: TlsDocumentServer
) -> None:
    mcp_url = gateway.url + "/mcp"
    client_id = docs.url("/mcpod-e2e/client-metadata.json")
    # Port-less loopback in the document, as Claude Code publishes it; the agent listens
    # on CALLBACK_PORT (RFC 8252 any-port matching).
    docs.serve_json(
        "/mcpod-e2e/client-metadata.json",
        {
            "client_id": client_id,
            "client_name": "Document Agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        },
    )
    before = stored_clients(gateway)
    async with browser_person(f"http://127.0.0.1:{CALLBACK_PORT}/") as person:
        await person.sign_up(gateway.url, "Cy")
        storage = MemoryTokenStorage()
        provider = oauth_provider(
            mcp_url, person, storage, redirect_uri=REDIRECT_URI, client_metadata_url=client_id
        )
        async with oauth_agent(mcp_url, provider) as agent:
            assert "list_connections" in tool_names(await agent.list_tools())
        assert person.steps == ["consent"]
        assert storage.client_info.client_id == client_id
    added = [c for c in stored_clients(gateway) if c not in before]
    assert added == [(client_id, "cimd")]  # no registration happened
    assert docs.hits["/mcpod-e2e/client-metadata.json"] == 1  # cached after the first fetch


def test_gateway_log_holds_no_tokens(gateway: LiveGateway) -> None:
    log = Path(gateway.data_dir / "gateway.log").read_text()
    assert "mcpod_oat_" not in log
    assert "mcpod_ort_" not in log
