"""Pure rules: redirect URI registration and matching, consent-page CSP and request binding."""

from __future__ import annotations

import pytest
from mcpod_gateway.oauth.consent import consent_binding, consent_view, form_action_source
from mcpod_gateway.oauth.redirects import (
    RedirectUriError,
    check_redirect_uri,
    redirect_uri_matches,
)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("https://app.example/cb", "https://app.example/cb"),
        ("http://localhost/callback", "http://localhost:53682/callback"),  # Claude Code
        ("http://127.0.0.1/callback", "http://127.0.0.1:1/callback"),
        ("http://127.0.0.1/", "http://127.0.0.1:33418/"),  # VS Code
        ("http://127.0.0.1:33418/", "http://127.0.0.1:40000/"),  # VS Code, port taken
        ("http://127.0.0.1:33418/", "http://127.0.0.1:40000"),  # empty path is "/"
        ("http://[::1]/cb", "http://[::1]:8080/cb"),
        ("http://localhost:8787/callback", "http://localhost:9000/callback"),  # Copilot CLI
        (
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-mcp/oauth/callback",
        ),
    ],
)
def test_matches(registered: str, requested: str) -> None:
    assert redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("https://app.example/cb", "https://app.example:8443/cb"),  # port only free on loopback
        ("https://app.example/cb", "https://app.example/cb/"),
        ("https://app.example/cb", "https://APP.example/cb"),
        ("http://localhost/callback", "http://127.0.0.1:5000/callback"),
        ("http://localhost/callback", "http://localhost.evil.example:5000/callback"),
        ("http://localhost/callback", "http://evil.example@localhost:5000/callback"),
        ("http://localhost/callback", "https://localhost:5000/callback"),
        ("http://localhost/callback", "http://localhost:5000/callback?x=1"),
        ("http://localhost/callback", "http://localhost:5000/callback#x"),
        ("http://localhost/callback", "http://localhost:5000/other"),
        ("http://localhost/callback", "http://localhost:notaport/callback"),
        (
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "cursor://anysphere.cursor-mcp/oauth/other",
        ),
    ],
)
def test_does_not_match(registered: str, requested: str) -> None:
    assert not redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,x",
        "vbscript:x",
        "file:///etc/passwd",
        "about:blank",
        "http://app.example/cb",
        "http://localhost.evil.example/cb",
        "https:///nohost",
        "https://app.example/cb#frag",
        "https://user@app.example/cb",
        "relative/path",
        "https://app.example/\u0000",
        "x:",
    ],
)
def test_refused_at_registration(uri: str) -> None:
    with pytest.raises(RedirectUriError):
        check_redirect_uri(uri)


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("http://127.0.0.1:5000/cb", "http://127.0.0.1:5000"),
        ("https://www.cursor.com/agents/mcp/oauth/callback", "https://www.cursor.com"),
        ("cursor://anysphere.cursor-mcp/oauth/callback", "cursor:"),
        ("https://a.example;frame-ancestors */x", "'none'"),  # no CSP syntax from a client
        ("https://a.example'/x", "'none'"),
    ],
)
def test_consent_form_action_source(uri: str, source: str) -> None:
    assert form_action_source(uri) == source


def test_consent_binding_covers_every_parameter_and_the_session() -> None:
    params = [("client_id", "c"), ("redirect_uri", "http://127.0.0.1/cb"), ("state", "s")]
    base = consent_binding(b"k" * 32, "session", params)
    assert base == consent_binding(b"k" * 32, "session", list(reversed(params)))
    assert base != consent_binding(b"k" * 32, "other-session", params)
    assert base != consent_binding(b"j" * 32, "session", params)
    assert base != consent_binding(b"k" * 32, "session", [*params[:2], ("state", "t")])
    assert base != consent_binding(b"k" * 32, "session", [*params, ("scope", "mcp")])


def test_consent_view_flags() -> None:
    cimd = consent_view(
        client_name="Claude Code",
        client_id="https://claude.ai/oauth/claude-code-client-metadata",
        kind="cimd",
        redirect_uri="http://localhost:5000/callback",
        scope="mcp",
        resource="https://gw.example/mcp",
    )
    assert cimd.client_host == "claude.ai"
    assert not cimd.self_registered
    assert cimd.redirect_is_loopback
    assert cimd.redirect_host == "localhost:5000"
    dcr = consent_view(
        client_name="x", client_id="mcpod_client_1", kind="dcr",
        redirect_uri="cursor://anysphere.cursor-mcp/oauth/callback", scope="mcp",
        resource="https://gw.example/mcp",
    )  # fmt: skip
    assert dcr.client_host is None
    assert dcr.self_registered
    assert not dcr.redirect_is_loopback
    assert dcr.redirect_host == "cursor://anysphere.cursor-mcp"
