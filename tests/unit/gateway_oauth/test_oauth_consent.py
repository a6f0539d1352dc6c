"""Consent: sign-in first, what the page shows, CSRF and request binding, deny, memory,
the portal's list of allowed agents with revoke; and CIMD clients end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fixtures.gateway import PUBLIC_URL, running_gateway
from fixtures.passkeys import SoftAuthenticator
from support.oauth_flow import (
    LOOPBACK_REDIRECT,
    SAME_ORIGIN,
    SignedIn,
    approve,
    exchange_code,
    hidden_fields,
    new_auth_request,
    redirect_query,
    register_client,
)
from support.tls_server import ThrowawayCa, TlsDocumentServer, make_test_ca, tls_document_server

FORM = {**SAME_ORIGIN, "content-type": "application/x-www-form-urlencoded"}


async def consent_form(client: httpx.AsyncClient, url: str) -> list[tuple[str, str]]:
    page = await client.get(url)
    assert page.status_code == 200, page.text[:400]
    return hidden_fields(page.text)


async def test_signed_out_person_is_asked_to_sign_in_and_sent_back(
    signed_in_sqlite: SignedIn,
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    await gw.post_form("/signout", {})
    page = await gw.client.get(auth.url())
    assert page.status_code == 200
    assert 'data-webauthn="signin"' in page.text
    assert f'data-next="{auth.url().replace("&", "&amp;")}"' in page.text
    assert "location" not in page.headers


async def test_bad_requests_are_refused_before_sign_in(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    await gw.post_form("/signout", {})
    auth = new_auth_request(signed_in_sqlite.client_id, "https://evil.example/cb")
    page = await gw.client.get(auth.url())
    assert page.status_code == 400
    assert "data-webauthn" not in page.text


async def test_consent_page_shows_who_where_what_and_forbids_framing(
    signed_in_sqlite: SignedIn,
) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, "http://127.0.0.1:50123/callback")
    page = await gw.client.get(auth.url())
    assert page.status_code == 200
    assert "Test agent" in page.text
    assert "self-registered" in page.text
    assert "127.0.0.1:50123" in page.text
    assert 'id="loopback-warning"' in page.text
    assert "<code>mcp</code>" in page.text
    assert f"{PUBLIC_URL}/mcp" in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' http://127.0.0.1:50123;" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


async def test_client_name_is_escaped(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    registered = await register_client(gw.client, [LOOPBACK_REDIRECT], name="Evil</h1><b>x")
    auth = new_auth_request(registered.json()["client_id"], LOOPBACK_REDIRECT)
    page = await gw.client.get(auth.url())
    assert "Evil&lt;/h1&gt;&lt;b&gt;x" in page.text
    assert "<b>x" not in page.text


async def test_consent_post_needs_csrf_token_and_same_origin(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    fields = await consent_form(gw.client, auth.url())
    without_token = [(k, v) for k, v in fields if k != "csrf_token"]
    answer = await gw.client.post(
        "/authorize", content=urlencode([*without_token, ("decision", "allow")]), headers=FORM
    )
    assert answer.status_code == 403
    cross_site = await gw.client.post(
        "/authorize",
        content=urlencode([*fields, ("decision", "allow")]),
        headers={**FORM, "sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert "location" not in cross_site.headers


async def test_consent_post_cannot_approve_a_different_request(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    fields = await consent_form(gw.client, auth.url())
    swapped = [(k, "http://127.0.0.1:9/callback" if k == "redirect_uri" else v) for k, v in fields]
    answer = await gw.client.post(
        "/authorize", content=urlencode([*swapped, ("decision", "allow")]), headers=FORM
    )
    assert answer.status_code == 403
    assert "does not match" in answer.text
    bad_decision = await gw.client.post(
        "/authorize", content=urlencode([*fields, ("decision", "maybe")]), headers=FORM
    )
    assert bad_decision.status_code == 400


async def test_deny_returns_access_denied_with_iss(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    answer = await approve(gw.client, auth.url(), decision="deny")
    assert answer.status_code == 303
    query = redirect_query(answer)
    assert query["error"] == "access_denied"
    assert query["state"] == auth.state
    assert query["iss"] == PUBLIC_URL
    # Denying remembers nothing: the next request asks again.
    again = await gw.client.get(
        new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT).url()
    )
    assert 'name="decision"' in again.text


async def test_consent_is_remembered_per_client_and_listed_and_revocable(
    signed_in: SignedIn,
) -> None:
    gw = signed_in.gw
    first = new_auth_request(signed_in.client_id, LOOPBACK_REDIRECT)
    tokens = (
        await exchange_code(
            gw.client, first, redirect_query(await approve(gw.client, first.url()))["code"]
        )
    ).json()
    second = new_auth_request(signed_in.client_id, "http://127.0.0.1:40404/callback")
    direct = await gw.client.get(second.url())
    assert direct.status_code == 303  # no consent page the second time
    assert "code" in redirect_query(direct)
    assert redirect_query(direct)["iss"] == PUBLIC_URL

    other = (await register_client(gw.client, [LOOPBACK_REDIRECT], "Other agent")).json()
    third = await gw.client.get(new_auth_request(other["client_id"], LOOPBACK_REDIRECT).url())
    assert 'name="decision"' in third.text  # memory is per client

    page = await gw.client.get("/oauth/clients")
    assert page.status_code == 200
    assert "Test agent" in page.text
    assert "Other agent" not in page.text
    consent_id = page.text.split('data-consent-id="')[1].split('"')[0]

    revoked = await gw.post_form(
        f"/oauth/clients/{consent_id}/revoke", {}, csrf_from="/oauth/clients"
    )
    assert revoked.status_code == 303
    assert await gw.app.state.bearer_verifier.verify(tokens["access_token"]) is None
    listed = await gw.client.get("/oauth/clients")
    assert "Test agent" not in listed.text
    again = await gw.client.get(new_auth_request(signed_in.client_id, LOOPBACK_REDIRECT).url())
    assert 'name="decision"' in again.text  # asked again after revoke


async def test_portal_revoke_of_someone_elses_grant_is_404(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    auth = new_auth_request(signed_in_sqlite.client_id, LOOPBACK_REDIRECT)
    await approve(gw.client, auth.url())
    page = await gw.client.get("/oauth/clients")
    consent_id = page.text.split('data-consent-id="')[1].split('"')[0]
    await gw.post_form("/signout", {})
    await gw.sign_up(SoftAuthenticator(), "Mallory")
    answer = await gw.post_form(
        f"/oauth/clients/{consent_id}/revoke", {}, csrf_from="/oauth/clients"
    )
    assert answer.status_code == 404
    nonsense = await gw.post_form("/oauth/clients/abc/revoke", {}, csrf_from="/oauth/clients")
    assert nonsense.status_code == 422


async def test_portal_page_needs_sign_in(signed_in_sqlite: SignedIn) -> None:
    gw = signed_in_sqlite.gw
    await gw.post_form("/signout", {})
    answer = await gw.client.get("/oauth/clients")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"


# ---- client ID metadata documents through the gateway --------------------------


@pytest.fixture(scope="module")
def throwaway_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCa:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def docs(throwaway_ca: ThrowawayCa) -> Iterator[TlsDocumentServer]:
    with tls_document_server(throwaway_ca) as server:
        yield server


async def test_cimd_client_end_to_end(
    tmp_path: Path, throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    client_id = docs.url("/claude-code-client-metadata")
    docs.serve_json(
        "/claude-code-client-metadata",
        {
            "client_id": client_id,
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
        },
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    async with running_gateway(
        url, tmp_path, oauth_cimd_allow_private=True, oauth_cimd_ca_file=throwaway_ca.ca_file
    ) as gw:
        await gw.sign_up(SoftAuthenticator(), "Ada")
        auth = new_auth_request(client_id, "http://localhost:53682/callback")  # any port
        page = await gw.client.get(auth.url())
        assert page.status_code == 200, page.text[:300]
        assert f"localhost:{docs.port}" in page.text  # the document's host is shown
        assert "self-registered" not in page.text
        answer = await approve(gw.client, auth.url())
        tokens = await exchange_code(gw.client, auth, redirect_query(answer)["code"])
        assert tokens.status_code == 200, tokens.text
        principal = await gw.app.state.bearer_verifier.verify(tokens.json()["access_token"])
        assert principal is not None
        assert principal.client_name == "Claude Code"

        not_listed = new_auth_request(client_id, "http://localhost:53682/elsewhere")
        refused = await gw.client.get(not_listed.url())
        assert refused.status_code == 400
        assert "location" not in refused.headers

        docs.serve_json("/liar.json", {"client_id": docs.url("/other.json"), "client_name": "x",
                                       "redirect_uris": ["http://localhost/callback"]})  # fmt: skip
        liar = await gw.client.get(
            new_auth_request(docs.url("/liar.json"), "http://localhost/callback").url()
        )
        assert liar.status_code == 400
        assert "does not equal" in liar.text


async def test_cimd_refuses_loopback_documents_by_default(
    signed_in_sqlite: SignedIn, docs: TlsDocumentServer
) -> None:
    client_id = docs.url("/client.json")
    docs.serve_json(
        "/client.json",
        {"client_id": client_id, "client_name": "x", "redirect_uris": ["http://localhost/cb"]},
    )
    page = await signed_in_sqlite.gw.client.get(
        new_auth_request(client_id, "http://localhost/cb").url()
    )
    assert page.status_code == 400
    assert "non-public address" in page.text
    assert docs.hits.get("/client.json", 0) == 0
