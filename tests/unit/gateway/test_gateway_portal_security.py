"""CSRF, sessions, security headers, rate limiting, forwarded headers and cookie attributes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fixtures.gateway import PUBLIC_URL, GatewayHarness, running_gateway
from fixtures.passkeys import SoftAuthenticator
from mcpod_gateway.models import ApiToken, User, WebAuthnChallenge, WebSession
from mcpod_gateway.models.base import utcnow
from sqlmodel import func, select


async def count(harness: GatewayHarness, model: type) -> int:
    async with harness.app.state.sessionmaker() as db:
        return int((await db.exec(select(func.count()).select_from(model))).one())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


async def test_missing_csrf_token_is_refused_and_nothing_is_stored(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    refused = await gateway.client.post(
        "/tokens", data={"name": "sneaky"}, headers={"origin": PUBLIC_URL}
    )
    assert refused.status_code == 403
    assert "missing CSRF token" in refused.text
    assert await count(gateway, ApiToken) == 0


async def test_wrong_csrf_token_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    refused = await gateway.client.post(
        "/tokens", data={"name": "sneaky", "csrf_token": "A" * 43}, headers={"origin": PUBLIC_URL}
    )
    assert refused.status_code == 403
    assert "invalid CSRF token" in refused.text
    assert await count(gateway, ApiToken) == 0


async def test_csrf_token_from_before_sign_in_is_useless_after(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    anonymous_token = await gateway.csrf_token("/signin")
    await gateway.sign_up(soft_authenticator)
    refused = await gateway.client.post(
        "/tokens", data={"name": "x", "csrf_token": anonymous_token}, headers={"origin": PUBLIC_URL}
    )
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "http://localhost:8001"},
    ],
)
async def test_cross_origin_requests_are_refused_even_with_a_token(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, headers: dict[str, str]
) -> None:
    await gateway.sign_up(soft_authenticator)
    token = await gateway.csrf_token("/tokens")
    refused = await gateway.client.post(
        "/tokens", data={"name": "x", "csrf_token": token}, headers=headers
    )
    assert refused.status_code == 403
    assert "refused" in refused.text
    assert await count(gateway, ApiToken) == 0


async def test_ceremony_endpoints_need_the_csrf_header(gateway: GatewayHarness) -> None:
    refused = await gateway.client.post(
        "/webauthn/signup/options",
        json={"display_name": "Mallory"},
        headers={"origin": PUBLIC_URL, "accept": "application/json"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("missing CSRF token")
    assert await count(gateway, WebAuthnChallenge) == 0


@pytest.mark.parametrize("what", ["idle", "absolute"])
async def test_expired_session_signs_out(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, what: str
) -> None:
    await gateway.sign_up(soft_authenticator)
    async with gateway.app.state.sessionmaker() as db:
        row = (await db.exec(select(WebSession))).one()
        if what == "idle":
            row.last_seen_at = utcnow() - timedelta(minutes=gateway.settings.session_idle_minutes)
        else:
            row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()
    page = await gateway.client.get("/tokens")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin"
    assert await count(gateway, WebSession) == 0


async def test_sign_out_invalidates_the_session_server_side(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    cookie = gateway.client.cookies.get("mcpod_session")
    await gateway.post_form("/signout", {})
    assert await count(gateway, WebSession) == 0
    gateway.client.cookies.set("mcpod_session", cookie or "")
    assert (await gateway.client.get("/account")).status_code == 303


async def test_end_other_sessions(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    assert (await gateway.sign_in(soft_authenticator)).status_code == 200
    # A second browser.
    first_cookie = gateway.client.cookies.get("mcpod_session")
    gateway.client.cookies.delete("mcpod_session")
    assert (await gateway.sign_in(soft_authenticator)).status_code == 200
    assert await count(gateway, WebSession) == 2
    listing = await gateway.client.get("/account")
    assert listing.text.count("this browser") == 1
    assert listing.text.count('data-label="Signed in"') == 2
    ended = await gateway.post_form("/account/sessions/end-others", {})
    assert ended.status_code == 303
    assert await count(gateway, WebSession) == 1
    assert (await gateway.client.get("/account")).status_code == 200
    gateway.client.cookies.set("mcpod_session", first_cookie or "")
    assert (await gateway.client.get("/account")).status_code == 303


async def test_security_headers_on_pages_and_errors(gateway: GatewayHarness) -> None:
    for response in (
        await gateway.client.get("/signin"),
        await gateway.client.get("/does-not-exist"),
        await gateway.client.post("/tokens"),
    ):
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "display_name",
    ["", "x" * 65, "tab\there", "<b>bold</b>", "\u200bzero-width"],
)
async def test_bad_display_names_are_refused_and_nothing_is_stored(
    gateway: GatewayHarness, display_name: str
) -> None:
    refused = await gateway.post_json("/webauthn/signup/options", {"display_name": display_name})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("Display name must")
    assert await count(gateway, WebAuthnChallenge) == 0
    assert await count(gateway, User) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"display_name": 5}, {"display_name": "x" * 2000}, {"display_name": None}],
)
async def test_malformed_ceremony_requests_get_clear_errors(
    gateway: GatewayHarness, body: dict[str, object]
) -> None:
    refused = await gateway.post_json("/webauthn/signup/options", body)
    assert refused.status_code == 422
    assert "display_name" in refused.json()["error"]
    assert await count(gateway, WebAuthnChallenge) == 0


async def test_garbage_credential_gets_a_clear_error(gateway: GatewayHarness) -> None:
    await gateway.post_json("/webauthn/signin/options", {})
    refused = await gateway.post_json("/webauthn/signin/verify", {"credential": {"id": 42}})
    assert refused.status_code == 400
    assert "malformed" in refused.json()["error"]


async def test_sign_in_endpoints_are_rate_limited(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, tmp_path, auth_rate_per_minute=3) as gateway:
        token = await gateway.csrf_token()
        statuses = [
            (await gateway.post_json("/webauthn/signin/options", {}, csrf=token)).status_code
            for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        limited = await gateway.post_json("/webauthn/signin/options", {}, csrf=token)
        assert int(limited.headers["retry-after"]) >= 1
        assert "Too many" in limited.json()["error"]


@pytest.mark.parametrize(("trusted", "expected"), [([], 429), (["127.0.0.1"], 200)])
async def test_forwarded_for_counts_only_from_trusted_proxies(
    sqlite_url: str, tmp_path: Path, trusted: list[str], expected: int
) -> None:
    async with running_gateway(
        sqlite_url, tmp_path, auth_rate_per_minute=2, trusted_proxies=trusted
    ) as gateway:
        token = await gateway.csrf_token()
        last = 0
        for n in range(3):
            gateway.client.headers["x-forwarded-for"] = f"203.0.113.{n}"
            last = (await gateway.post_json("/webauthn/signin/options", {}, csrf=token)).status_code
        assert last == expected


async def test_https_deployment_uses_host_prefixed_secure_cookies(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with running_gateway(sqlite_url, tmp_path, public_url="https://gw.example.test") as gw:
        gw.client.base_url = "https://gw.example.test"  # type: ignore[assignment]
        page = await gw.client.get("/signin")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-mcpod_csrf=")
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
        assert "samesite=lax" in cookie.lower()
        assert "max-age=31536000" in page.headers["strict-transport-security"]


async def test_invite_only_registration(sqlite_url: str, tmp_path: Path) -> None:
    from mcpod_gateway import accounts

    async with running_gateway(sqlite_url, tmp_path, registration="invite") as gateway:
        page = await gateway.client.get("/signup")
        assert "by invitation only" in page.text
        refused = await gateway.post_json("/webauthn/signup/options", {"display_name": "Walk-in"})
        assert refused.status_code == 403
        bogus = await gateway.post_json(
            "/webauthn/signup/options", {"display_name": "x", "invite": "nope"}
        )
        assert bogus.status_code == 400
        assert "invite" in bogus.json()["error"]

        async with gateway.app.state.sessionmaker() as db:
            _invite, token = await accounts.create_invite(
                db, user_id=None, valid_for=timedelta(days=1)
            )
            await db.commit()
        authenticator = SoftAuthenticator()
        start = await gateway.post_json(
            "/webauthn/signup/options", {"display_name": "Invited", "invite": token}
        )
        assert start.status_code == 200, start.text
        done = await gateway.post_json(
            "/webauthn/signup/verify", {"credential": authenticator.create(start.json()["options"])}
        )
        assert done.status_code == 200, done.text
        assert await count(gateway, User) == 1
        # Single use.
        gateway.client.cookies.clear()
        again = await gateway.post_json(
            "/webauthn/signup/options", {"display_name": "Second", "invite": token}
        )
        assert again.status_code == 400


async def test_admin_created_user_enrols_a_passkey_through_the_invite(
    sqlite_url: str, tmp_path: Path
) -> None:
    from mcpod_gateway import accounts

    async with running_gateway(sqlite_url, tmp_path, registration="invite") as gateway:
        async with gateway.app.state.sessionmaker() as db:
            user = await accounts.create_user(db, display_name="Grace")
            _invite, token = await accounts.create_invite(
                db, user_id=user.id, valid_for=timedelta(days=1)
            )
            await db.commit()
        page = await gateway.client.get(f"/signup?invite={token}")
        assert "Set up your passkey" in page.text
        authenticator = SoftAuthenticator()
        start = await gateway.post_json(
            "/webauthn/signup/options", {"display_name": "", "invite": token}
        )
        assert start.status_code == 200, start.text
        assert start.json()["options"]["user"]["name"] == "Grace"
        done = await gateway.post_json(
            "/webauthn/signup/verify", {"credential": authenticator.create(start.json()["options"])}
        )
        assert done.status_code == 200, done.text
        assert await gateway.user_id_for(authenticator) == user.id
        assert await count(gateway, User) == 1


async def test_sessions_past_their_limit_are_swept_at_sign_in(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    async with gateway.app.state.sessionmaker() as db:
        stale = (await db.exec(select(WebSession))).one()
        stale.expires_at = utcnow() - timedelta(days=1)
        db.add(stale)
        await db.commit()
        stale_hash = stale.token_hash
    gateway.client.cookies.delete("mcpod_session")  # that browser never comes back
    assert (await gateway.sign_in(soft_authenticator)).status_code == 200
    async with gateway.app.state.sessionmaker() as db:
        assert await db.get(WebSession, stale_hash) is None
    assert await count(gateway, WebSession) == 1


async def test_form_post_after_the_session_ended_goes_to_sign_in(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    token = await gateway.csrf_token("/tokens")
    async with gateway.app.state.sessionmaker() as db:
        row = (await db.exec(select(WebSession))).one()
        await db.delete(row)
        await db.commit()
    response = await gateway.client.post(
        "/tokens", data={"name": "late", "csrf_token": token}, headers={"origin": PUBLIC_URL}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert await count(gateway, ApiToken) == 0
    # The portal's JavaScript gets JSON instead.
    start = await gateway.post_json("/webauthn/passkeys/options", {"name": "x"}, csrf=token)
    assert start.status_code == 401
    assert start.json() == {"error": "sign in first"}


async def age_the_sign_in(harness: GatewayHarness, minutes: int) -> None:
    async with harness.app.state.sessionmaker() as db:
        row = (await db.exec(select(WebSession))).one()
        row.created_at = utcnow() - timedelta(minutes=minutes)
        db.add(row)
        await db.commit()


async def test_sensitive_actions_need_a_recent_sign_in(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    await age_the_sign_in(gateway, gateway.settings.reauth_minutes + 1)
    token = await gateway.csrf_token("/tokens")

    refused = await gateway.client.post(
        "/tokens", data={"name": "stale", "csrf_token": token}, headers={"origin": PUBLIC_URL}
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/signin?reauth=1&next=/tokens"
    assert await count(gateway, ApiToken) == 0

    add = await gateway.post_json("/webauthn/passkeys/options", {"name": "x"}, csrf=token)
    assert add.status_code == 401
    assert add.json()["reauthenticate"] == "/signin?reauth=1&next=/account"
    assert await count(gateway, WebAuthnChallenge) == 0

    # Still signed in for everything else, and asked to confirm rather than bounced.
    assert (await gateway.client.get("/tokens")).status_code == 200
    confirm = await gateway.client.get("/signin?reauth=1&next=/tokens")
    assert confirm.status_code == 200
    assert "Confirm it&#39;s you" in confirm.text or "Confirm it's you" in confirm.text

    start = await gateway.post_json("/webauthn/signin/options", {})
    assertion = soft_authenticator.get(start.json()["options"])
    again = await gateway.post_json(
        "/webauthn/signin/verify", {"credential": assertion, "next": "/tokens"}
    )
    assert again.json() == {"redirect": "/tokens"}
    assert await gateway.create_token("fresh")


@pytest.mark.parametrize(
    "next_page",
    ["https://evil.example/", "//evil.example", "/\\evil.example", "/tokens?x=1", "javascript:x"],
)
async def test_sign_in_never_redirects_off_the_portal(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator, next_page: str
) -> None:
    await gateway.sign_up(soft_authenticator)
    start = await gateway.post_json("/webauthn/signin/options", {})
    assertion = soft_authenticator.get(start.json()["options"])
    done = await gateway.post_json(
        "/webauthn/signin/verify", {"credential": assertion, "next": next_page}
    )
    assert done.json() == {"redirect": "/connections"}
    page = await gateway.client.get(f"/signin?next={next_page}")
    assert page.headers["location"] == "/connections"
