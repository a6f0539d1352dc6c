"""The OAuth consent step in real headless Chromium: framing refused, sign-in with the passkey
and back to the same request, a failed passkey check gives no code, the agents page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fixtures.browser import VirtualAuthenticator
from fixtures.gateway import live_gateway
from support.oauth_flow import new_auth_request

Page = Any
CALLBACK = "http://127.0.0.1:47311/callback"


@pytest.fixture(scope="module")
def browser_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """This module's own gateway: the session-wide one may have used up its sign-up budget."""
    with live_gateway(
        tmp_path_factory.mktemp("oauth-browser"), MCPOD_AUTH_RATE_PER_MINUTE="1000"
    ) as gateway:
        yield gateway


def sign_up(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/signup")
    page.fill("#display_name", name)
    page.click("#signup")
    page.wait_for_url(f"{base}/connections")


def sign_out(page: Page, base: str) -> None:
    page.goto(f"{base}/account")
    page.click("form.signout button")
    page.wait_for_url(f"{base}/signin")


def register(base: str, name: str = "Browser agent") -> str:
    answer = httpx.post(f"{base}/register", json={"client_name": name, "redirect_uris": [CALLBACK]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def catch_callbacks(page: Page) -> list[str]:
    seen: list[str] = []

    def answer(route: Any) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="agent got it")

    page.context.route("http://127.0.0.1:47311/**", answer)
    return seen


def test_sign_in_returns_to_the_request_then_consent_issues_a_code(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, _authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Grace")
    sign_out(page, base)
    callbacks = catch_callbacks(page)
    auth = new_auth_request(register(base), CALLBACK)
    auth.resource = f"{base}/mcp"
    page.goto(base + auth.url())
    page.click("#signin")  # the passkey sign-in on the authorization page itself
    page.wait_for_selector("#allow")  # ...and straight back to the same request
    assert page.inner_text("#client-name") == "Browser agent"
    assert "127.0.0.1:47311" in page.inner_text("#redirect-host")
    assert page.inner_text("#resource") == f"{base}/mcp"
    page.click("#allow")
    page.wait_for_url("http://127.0.0.1:47311/**")
    query = parse_qs(urlsplit(callbacks[-1]).query)
    assert query["state"] == [auth.state]
    assert query["iss"] == [base]
    assert query["code"][0]


def test_consent_page_cannot_be_framed(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, _authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Hedy")
    auth = new_auth_request(register(base), CALLBACK)
    auth.resource = f"{base}/mcp"
    # A page on another origin tries to frame the consent page (clickjacking).
    page.route(
        "http://127.0.0.1:47312/evil",
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body=f'<iframe id="victim" src="{base}{auth.url()}"></iframe>',
        ),
    )
    page.goto("http://127.0.0.1:47312/evil")
    page.wait_for_timeout(500)
    frames = [f for f in page.frames if f != page.main_frame]
    assert frames, "the iframe element was not created"
    for frame in frames:
        # Blocked by frame-ancestors: Chromium shows its own error page instead of ours
        # (without the header the frame would show the gateway's sign-in page).
        assert frame.locator("form[data-webauthn], #allow").count() == 0
        assert frame.locator("a.brand").count() == 0
    # The same URL at top level shows the consent page: only framing is refused.
    page.goto(base + auth.url())
    assert page.locator("#allow").count() == 1


def test_failed_user_verification_gives_no_consent_and_no_code(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Ida")
    sign_out(page, base)
    callbacks = catch_callbacks(page)
    auth = new_auth_request(register(base), CALLBACK)
    auth.resource = f"{base}/mcp"
    authenticator.set_user_verified(False)
    page.goto(base + auth.url())
    page.click("#signin")
    page.wait_for_selector("#status.error")
    assert page.locator("#allow").count() == 0
    assert callbacks == []


def test_agents_page_lists_and_revokes(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, _authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Joan")
    catch_callbacks(page)
    auth = new_auth_request(register(base, "Listed agent"), CALLBACK)
    auth.resource = f"{base}/mcp"
    page.goto(base + auth.url())
    page.click("#allow")
    page.wait_for_url("http://127.0.0.1:47311/**")
    page.goto(base + "/oauth/clients")
    assert page.get_by_role("link", name="Agents").get_attribute("aria-current") == "page"
    assert "Listed agent" in page.inner_text("#granted-clients")
    page.get_by_role("button", name="Revoke Listed agent").click()
    page.wait_for_selector("#no-clients")
    assert page.inner_text("#status") == "Access revoked."
