"""Dynamic client registration (RFC 7591): real-world shapes accepted, abuse refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures.gateway import running_gateway
from mcpod_gateway.models import OAuthClient
from sqlmodel import select
from support.oauth_flow import SignedIn, register_client

CURSOR = [
    "cursor://anysphere.cursor-mcp/oauth/callback",
    "https://www.cursor.com/agents/mcp/oauth/callback",
    "http://localhost:8787/callback",
]
VS_CODE = [
    "https://insiders.vscode.dev/redirect",
    "https://vscode.dev/redirect",
    "http://127.0.0.1/",
    "http://127.0.0.1:33418/",
]


@pytest.mark.parametrize(
    "redirect_uris",
    [CURSOR, VS_CODE, ["http://localhost:6274/oauth/callback"], ["http://[::1]/cb"]],
)
async def test_real_client_shapes_register_as_public_clients(
    signed_in_sqlite: SignedIn, redirect_uris: list[str]
) -> None:
    gw = signed_in_sqlite.gw
    answer = await register_client(gw.client, redirect_uris, "Real Client")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert body["redirect_uris"] == redirect_uris
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    async with gw.app.state.sessionmaker() as db:
        stored = (
            await db.exec(select(OAuthClient).where(OAuthClient.client_id == body["client_id"]))
        ).one()
    assert stored.redirect_uris == redirect_uris  # persisted: clients cache their client_id


async def test_secret_based_methods_are_answered_as_public(signed_in_sqlite: SignedIn) -> None:
    answer = await register_client(
        signed_in_sqlite.gw.client,
        ["http://127.0.0.1/cb"],
        token_endpoint_auth_method="client_secret_basic",
    )
    assert answer.status_code == 201
    assert answer.json()["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in answer.json()


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({}, "invalid_redirect_uri", "non-empty"),
        ({"redirect_uris": []}, "invalid_redirect_uri", "non-empty"),
        ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_redirect_uri", "non-empty list"),
        ({"redirect_uris": [42]}, "invalid_redirect_uri", "strings"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", "not allowed"),
        ({"redirect_uris": ["data:text/html,hi"]}, "invalid_redirect_uri", "not allowed"),
        ({"redirect_uris": ["file:///etc/passwd"]}, "invalid_redirect_uri", "not allowed"),
        (
            {"redirect_uris": ["http://evil.example/cb"]},
            "invalid_redirect_uri",
            "only on localhost",
        ),
        ({"redirect_uris": ["https://a.example/cb#f"]}, "invalid_redirect_uri", "fragment"),
        ({"redirect_uris": ["/relative"]}, "invalid_redirect_uri", "absolute"),
        ({"redirect_uris": ["https://a.example/c b"]}, "invalid_redirect_uri", "spaces"),
        (
            {"redirect_uris": ["https://u:p@a.example/cb"]},
            "invalid_redirect_uri",
            "user information",
        ),
        (
            {"redirect_uris": [f"http://127.0.0.1:{p}/cb" for p in range(1000, 1011)]},
            "invalid_redirect_uri",
            "at most 10",
        ),
        (
            {"redirect_uris": ["https://a.example/" + "x" * 2100]},
            "invalid_redirect_uri",
            "longer than",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "a\u0000b"},
            "invalid_client_metadata",
            "control",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "x" * 101},
            "invalid_client_metadata",
            "at most 100",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": ""},
            "invalid_client_metadata",
            "empty",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "client_name": ["list"]},
            "invalid_client_metadata",
            "string",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "grant_types": ["client_credentials"]},
            "invalid_client_metadata",
            "grant_types",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1/cb"], "response_types": ["token"]},
            "invalid_client_metadata",
            "response_types",
        ),
        ([1, 2], "invalid_client_metadata", "JSON object"),
    ],
)
async def test_invalid_metadata_is_refused_and_nothing_stored(
    signed_in_sqlite: SignedIn, body: Any, error: str, message: str
) -> None:
    gw = signed_in_sqlite.gw
    answer = await gw.client.post("/register", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error
    assert message in answer.json()["error_description"]
    async with gw.app.state.sessionmaker() as db:
        assert len((await db.exec(select(OAuthClient))).all()) == 1  # the fixture's own


async def test_wrong_body_shapes(signed_in_sqlite: SignedIn) -> None:
    client = signed_in_sqlite.gw.client
    not_json = await client.post(
        "/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error_description"]
    form = await client.post("/register", data={"redirect_uris": "http://127.0.0.1/cb"})
    assert form.status_code == 400
    assert "application/json" in form.json()["error_description"]
    huge = await client.post(
        "/register", json={"redirect_uris": ["http://127.0.0.1/cb"], "pad": "x" * 9000}
    )
    assert huge.status_code == 400
    assert "larger than" in huge.json()["error_description"]


async def test_registration_is_rate_limited_per_address(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    async with running_gateway(url, tmp_path, oauth_registrations_per_hour=3) as gw:
        answers = [
            (await register_client(gw.client, ["http://127.0.0.1/cb"])).status_code
            for _ in range(5)
        ]
    assert answers == [201, 201, 201, 429, 429]


async def test_registered_clients_are_capped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    async with running_gateway(url, tmp_path, oauth_max_clients=2) as gw:
        answers = [await register_client(gw.client, ["http://127.0.0.1/cb"]) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 503]
    assert answers[2].json()["error"] == "temporarily_unavailable"


async def test_preflight_allows_any_origin_without_credentials(signed_in_sqlite: SignedIn) -> None:
    client = signed_in_sqlite.gw.client
    for path in (
        "/register",
        "/token",
        "/revoke",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        answer = await client.options(
            path,
            headers={
                "origin": "http://localhost:6274",
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "content-type" in answer.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in answer.headers
