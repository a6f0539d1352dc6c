"""Client-side pieces of the OAuth flow for tests that drive the gateway by HTTP.

Plain httpx (no OAuth library) so every parameter of every request is visible
and can be broken on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

PUBLIC_URL = "http://localhost:8000"
LOOPBACK_REDIRECT = "http://127.0.0.1:41234/callback"
RESOURCE = PUBLIC_URL + "/mcp"
SAME_ORIGIN = {"origin": PUBLIC_URL, "sec-fetch-site": "same-origin", "accept": "text/html"}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AuthRequest:
    client_id: str
    redirect_uri: str
    verifier: str
    challenge: str
    state: str
    resource: str | None = RESOURCE
    scope: str | None = "mcp"
    method: str | None = "S256"

    def params(self, **overrides: str | None) -> list[tuple[str, str]]:
        values: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.challenge,
            "code_challenge_method": self.method,
            "state": self.state,
            "scope": self.scope,
            "resource": self.resource,
        }
        values.update(overrides)
        return [(k, v) for k, v in values.items() if v is not None]

    def url(self, **overrides: str | None) -> str:
        return "/authorize?" + urlencode(self.params(**overrides))


def new_auth_request(client_id: str, redirect_uri: str) -> AuthRequest:
    verifier, challenge = pkce_pair()
    return AuthRequest(client_id, redirect_uri, verifier, challenge, secrets.token_urlsafe(12))


async def register_client(
    client: httpx.AsyncClient, redirect_uris: list[str], name: str = "Test agent", **extra: Any
) -> httpx.Response:
    body = {
        "client_name": name,
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **extra,
    }
    return await client.post("/register", json=body)


def hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(page)]


async def approve(client: httpx.AsyncClient, url: str, decision: str = "allow") -> httpx.Response:
    """Open the consent page at ``url`` and press Allow or Deny; returns the final answer."""
    page = await client.get(url)
    if page.status_code != 200 or 'name="decision"' not in page.text:
        return page
    fields = hidden_fields(page.text)
    return await client.post(
        "/authorize",
        content=urlencode([*fields, ("decision", decision)]),
        headers={**SAME_ORIGIN, "content-type": "application/x-www-form-urlencoded"},
    )


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def exchange_code(
    client: httpx.AsyncClient, auth: AuthRequest, code: str, **overrides: str | None
) -> httpx.Response:
    values: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": auth.redirect_uri,
        "client_id": auth.client_id,
        "code_verifier": auth.verifier,
        "resource": auth.resource,
    }
    values.update(overrides)
    return await client.post("/token", data={k: v for k, v in values.items() if v is not None})


async def refresh(
    client: httpx.AsyncClient, client_id: str, refresh_token: str, **overrides: str | None
) -> httpx.Response:
    values: dict[str, str | None] = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "resource": RESOURCE,
    }
    values.update(overrides)
    return await client.post("/token", data={k: v for k, v in values.items() if v is not None})


@dataclass
class SignedIn:
    """A gateway (test harness) with a signed-in person and one registered client."""

    gw: Any  # fixtures.gateway.GatewayHarness
    user_id: str
    client_id: str  # a DCR client registered with LOOPBACK_REDIRECT
