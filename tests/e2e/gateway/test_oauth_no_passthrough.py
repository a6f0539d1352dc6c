"""No token passthrough: an agent's OAuth access token stops at the gateway.

An MCP SDK agent holding an OAuth token (from the real authorization flow) calls a
tool on its own connection; every request the gateway sends to the bridge is
recorded and must carry the bridge's own token, never the agent's.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fixtures.mcp_gateway import GatewayUnderTest, agent, sentinel_pat
from mcpod_gateway.auth.sessions import start_web_session
from mcpod_gateway.mcp import forward
from starlette.responses import Response
from support.oauth_flow import (
    approve,
    exchange_code,
    new_auth_request,
    redirect_query,
    register_client,
)

REDIRECT = "http://127.0.0.1:47500/callback"


async def oauth_token_for(gw: GatewayUnderTest, user_id: str) -> str:
    async with gw.app.state.sessionmaker() as db:
        session = await start_web_session(
            db, Response(), gw.settings, user_id=user_id, previous=None
        )
        await db.commit()
    base = f"http://127.0.0.1:{gw.port}"
    async with httpx.AsyncClient(base_url=base, headers={"accept": "text/html"}) as http:
        http.cookies.set("mcpod_session", session, domain="127.0.0.1")
        client_id = (await register_client(http, [REDIRECT])).json()["client_id"]
        auth = new_auth_request(client_id, REDIRECT)
        auth.resource = gw.settings.public_url + "/mcp"
        code = redirect_query(await approve(http, auth.url()))["code"]
        tokens = await exchange_code(http, auth, code)
    assert tokens.status_code == 200, tokens.text
    token: str = tokens.json()["access_token"]
    return token


async def test_oauth_token_is_never_sent_to_the_bridge(
    local_gateway: GatewayUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = local_gateway
    user_id = await gw.create_user("ada")
    await gw.create_connection(user_id, "work", "contoso", sentinel_pat(), domains=["core"])
    token = await oauth_token_for(gw, user_id)
    sent: list[str] = []
    # Everything a bridge request is made of: the body and headers built from the call,
    # and the endpoint (URL and the bridge token that becomes its Authorization header).
    build = forward.bridge_request

    def recording_build(method: str, params: dict[str, Any]) -> Any:
        built = build(method, params)
        sent.append(repr(built))
        return built

    monkeypatch.setattr(forward, "bridge_request", recording_build)
    bridges = gw.app.state.mcp.bridges
    original = bridges.request

    async def recording_request(endpoint: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(repr(endpoint))
        assert endpoint.token != token
        return await original(endpoint, *args, **kwargs)

    monkeypatch.setattr(bridges, "request", recording_request)
    async with agent(gw.url, token) as client:
        result = await client.call_tool("work__core_list_projects", {})
        assert not result.is_error, result
    assert any("core_list_projects" in item for item in sent), sent
    assert all(token not in item for item in sent)
    assert all("mcpod_oat_" not in item for item in sent)
