"""The authorization code flow end to end over HTTP: register, consent, token, refresh, revoke."""

from __future__ import annotations

from support.oauth_flow import (
    LOOPBACK_REDIRECT,
    RESOURCE,
    SignedIn,
    approve,
    exchange_code,
    new_auth_request,
    redirect_query,
    refresh,
)


async def test_code_flow_issues_tokens_bound_to_the_resource(signed_in: SignedIn) -> None:
    gw = signed_in.gw
    auth = new_auth_request(signed_in.client_id, "http://127.0.0.1:50999/callback")
    answer = await approve(gw.client, auth.url())
    query = redirect_query(answer)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("http://127.0.0.1:50999/callback?")
    assert query["state"] == auth.state
    assert query["iss"] == gw.settings.public_url
    tokens = await exchange_code(gw.client, auth, query["code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("mcpod_oat_")
    assert body["refresh_token"].startswith("mcpod_ort_")
    assert body["scope"] == "mcp"
    assert tokens.headers["cache-control"] == "no-store"
    principal = await gw.app.state.bearer_verifier.verify(body["access_token"])
    assert principal is not None
    assert principal.user_id == signed_in.user_id
    assert principal.scopes == frozenset({"mcp"})
    assert principal.kind == "oauth_access"
    renewed = await refresh(gw.client, signed_in.client_id, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["refresh_token"] != body["refresh_token"]
    assert RESOURCE.endswith("/mcp")
    assert LOOPBACK_REDIRECT
