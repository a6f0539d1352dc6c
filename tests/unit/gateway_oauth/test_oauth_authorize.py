"""The authorization endpoint's rules: PKCE S256 only, redirect URIs, resource, errors, iss."""

from __future__ import annotations

import pytest
from support.oauth_flow import (
    LOOPBACK_REDIRECT,
    RESOURCE,
    SignedIn,
    approve,
    exchange_code,
    new_auth_request,
    redirect_query,
)


def assert_error_redirect(response, error: str, state: str, issuer: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    query = redirect_query(response)
    assert query["error"] == error, query
    assert query["state"] == state
    assert query["iss"] == issuer  # RFC 9207: errors too
    assert "code" not in query
    return query


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "code_challenge is required"),
        ({"code_challenge": None}, "code_challenge is required"),
        ({"code_challenge_method": "plain"}, "must be S256"),
        ({"code_challenge_method": None}, "must be S256"),  # absent means plain
        ({"code_challenge_method": "s256"}, "must be S256"),
        ({"code_challenge": "short"}, "Invalid 'code_challenge'"),
    ],
)
async def test_pkce_s256_is_required_at_authorize(
    signed_in_sqlite: SignedIn, overrides: dict[str, str | None], message: str
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await gw.client.get(auth.url(**overrides))
    query = assert_error_redirect(answer, "invalid_request", auth.state, gw.settings.public_url)
    assert message in query["error_description"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://127.0.0.1.evil.example:41234/callback",  # look-alike host
        "http://localhost@evil.example/callback",  # user info trick
        "http://127.0.0.1:41234@evil.example/callback",
        "http://127.0.0.1:41234/callback/../../evil",
        "http://127.0.0.1:41234/callbackx",  # path prefix
        "http://127.0.0.1:41234/Callback",  # case differs
        "http://127.0.0.1:41234/callback?next=evil",  # added query
        "http://127.0.0.1:41234/callback#frag",
        "https://127.0.0.1:41234/callback",  # scheme differs
        "http://localhost:41234/callback",  # other loopback name than registered
        "http://[::1]:41234/callback",
        "javascript:alert(1)//127.0.0.1:41234/callback",
    ],
)
async def test_unregistered_redirect_uris_get_an_error_page_not_a_redirect(
    signed_in_sqlite: SignedIn, redirect_uri: str
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, redirect_uri)
    answer = await gw.client.get(auth.url())
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "not supported by client" in answer.text


async def test_loopback_redirect_matches_any_port(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    for port in (1024, 41234, 65535):
        auth = new_auth_request(signed_in_sqlite.client_id, f"http://127.0.0.1:{port}/callback")
        answer = await approve(gw.client, auth.url())
        assert answer.headers["location"].startswith(f"http://127.0.0.1:{port}/callback?code=")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("client_id=nope&response_type=code", "does not exist"),
        ("response_type=code", "exactly one client_id"),
        ("", "exactly one client_id"),
    ],
)
async def test_unknown_or_missing_client_gets_an_error_page(
    signed_in_sqlite: SignedIn, params: str, message: str
) -> None:
    answer = await signed_in_sqlite.gw.client.get(f"/authorize?{params}")
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert message in answer.text


async def test_missing_redirect_uri_gets_an_error_page(signed_in_sqlite: SignedIn) -> None:
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await signed_in_sqlite.gw.client.get(auth.url(redirect_uri=None))
    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_duplicate_client_id_is_refused(signed_in_sqlite: SignedIn) -> None:
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await signed_in_sqlite.gw.client.get(
        auth.url() + f"&client_id={signed_in_sqlite.client_id}"
    )
    assert answer.status_code == 400
    assert "exactly one client_id" in answer.text


async def test_unsupported_response_type_is_redirected_with_iss(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await gw.client.get(auth.url(response_type="token"))
    assert_error_redirect(answer, "unsupported_response_type", auth.state, gw.settings.public_url)


@pytest.mark.parametrize(
    "resource",
    [
        "https://other.example/mcp",
        "http://localhost:8000/other",
        "http://localhost:8001/mcp",
        "not a uri",
    ],
)
async def test_other_resources_are_invalid_target(
    signed_in_sqlite: SignedIn, resource: str
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await gw.client.get(auth.url(resource=resource))
    assert_error_redirect(answer, "invalid_target", auth.state, gw.settings.public_url)


async def test_two_resources_are_invalid_target(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await gw.client.get(auth.url() + "&resource=" + RESOURCE)
    assert_error_redirect(answer, "invalid_target", auth.state, gw.settings.public_url)


@pytest.mark.parametrize("resource", [None, RESOURCE, RESOURCE + "/", "HTTP://LOCALHOST:8000/mcp"])
async def test_absent_or_equivalent_resource_binds_the_canonical_one(
    signed_in_sqlite: SignedIn, resource: str | None
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    auth.resource = resource
    answer = await approve(gw.client, auth.url())
    tokens = await exchange_code(gw.client, auth, redirect_query(answer)["code"])
    assert tokens.status_code == 200, tokens.text
    from mcpod_gateway.models import OAuthToken
    from sqlmodel import select

    async with gw.app.state.sessionmaker() as db:
        row = (await db.exec(select(OAuthToken))).one()
    assert row.resource == RESOURCE


async def test_unknown_scopes_are_dropped_and_absent_scope_defaults(
    signed_in_sqlite: SignedIn,
) -> None:
    gw = signed_in_sqlite.gw
    for scope in (None, "mcp offline_access admin", "mcp mcp"):
        auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
        auth.scope = scope
        answer = await approve(gw.client, auth.url())
        tokens = await exchange_code(gw.client, auth, redirect_query(answer)["code"])
        assert tokens.json()["scope"] == "mcp"
