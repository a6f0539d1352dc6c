"""Discovery: RFC 9728 protected-resource metadata and RFC 8414 server metadata; challenges."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from mcpod_gateway.oauth.resource import (
    insufficient_scope_headers,
    normalize_resource,
    unauthorized_headers,
    www_authenticate,
)
from mcpod_gateway.settings import Settings
from support.oauth_flow import SignedIn

SETTINGS = Settings(public_url="https://mcp.example.com", dev=True)


@pytest.mark.parametrize(
    "path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
)
async def test_protected_resource_metadata(signed_in_sqlite: SignedIn, path: str) -> None:
    gw = signed_in_sqlite.gw
    answer = await gw.client.get(path)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert body["resource"] == "http://localhost:8000/mcp"
    assert body["authorization_servers"] == ["http://localhost:8000"]
    assert body["scopes_supported"] == ["mcp"]
    assert body["bearer_methods_supported"] == ["header"]


async def test_authorization_server_metadata(signed_in_sqlite: SignedIn) -> None:
    answer = await signed_in_sqlite.gw.client.get("/.well-known/oauth-authorization-server")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    AuthorizationServerMetadata(body).validate()
    assert body["issuer"] == "http://localhost:8000"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "none" in body["token_endpoint_auth_methods_supported"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert body["client_id_metadata_document_supported"] is True
    assert body["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert body["response_types_supported"] == ["code"]
    for name in ("authorization", "token", "registration", "revocation"):
        assert body[f"{name}_endpoint"].startswith("http://localhost:8000/")


def test_challenge_without_credentials_has_no_error() -> None:
    value = unauthorized_headers(SETTINGS, token_was_sent=False)["WWW-Authenticate"]
    metadata = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    assert value == f'Bearer resource_metadata="{metadata}", scope="mcp"'


def test_challenge_for_a_bad_token_says_invalid_token() -> None:
    value = unauthorized_headers(SETTINGS, token_was_sent=True)["WWW-Authenticate"]
    assert value.endswith(', error="invalid_token"')


def test_step_up_challenge_lists_every_needed_scope() -> None:
    value = insufficient_scope_headers(SETTINGS, needed="mcp admin")["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in value
    assert 'scope="mcp admin"' in value


def test_challenge_values_are_quoted_safely() -> None:
    value = www_authenticate(SETTINGS, error="invalid_token", description='say "no" \\ now')
    assert 'error_description="say \\"no\\" \\\\ now"' in value


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
        ("HTTPS://MCP.Example.COM/mcp/", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/mcp#frag", None),
        ("mcp.example.com/mcp", None),
        ("ftp://mcp.example.com/mcp", None),
    ],
)
def test_resource_normalisation(value: str, normal: str | None) -> None:
    assert normalize_resource(value) == normal
