"""The portal in real headless Chromium with a CDP virtual authenticator."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fixtures.browser import VirtualAuthenticator
from mcpod_gateway.auth.api_tokens import ApiTokenVerifier, looks_like_api_token
from mcpod_gateway.db import create_engine, create_sessionmaker

Page = Any


def sign_up(page: Page, base: str, name: str = "Ada Lovelace") -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url(f"{base}/connections")
    # Continue from a page of this feature (the connections page belongs to another).
    page.goto(f"{base}/account")


def sign_out(page: Page, base: str) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{base}/signin")


def check_token(database_url: str, token: str) -> str | None:
    async def verify() -> str | None:
        engine = create_engine(database_url)
        try:
            verifier = ApiTokenVerifier(create_sessionmaker(engine), cache_seconds=0)
            principal = await verifier.verify(token)
            return principal.user_id if principal else None
        finally:
            await engine.dispose()

    # Playwright's sync API owns this thread's event loop: verify on another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, verify()).result()


def test_sign_up_sign_out_and_sign_in_without_a_user_name(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Ada Lovelace")
    assert (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Tokens").is_visible()
    )
    assert page.locator(".who").inner_text() == "Ada Lovelace"

    (credential,) = authenticator.credentials()
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"

    sign_out(page, base)
    page.goto(f"{base}/account")
    page.wait_for_url(f"{base}/signin")  # signed out really means signed out

    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(f"{base}/connections")
    page.goto(f"{base}/account")
    assert page.get_by_role("heading", name="Account").is_visible()
    assert authenticator.credentials()[0]["signCount"] >= 2


def test_add_a_second_passkey_and_sign_in_with_it(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Two Keys")
    page.goto(f"{base}/account")
    # Another device: a security key.
    authenticator.replace(transport="usb")
    page.get_by_label("Name for the new passkey").fill("Security key")
    page.get_by_role("button", name="Add passkey").click()
    page.get_by_role("cell", name="Security key", exact=True).wait_for()
    assert page.get_by_role("button", name=re.compile("^Remove passkey")).count() == 2

    sign_out(page, base)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(f"{base}/connections")

    # Remove the first passkey; the last one cannot be removed.
    page.goto(f"{base}/account")
    page.get_by_role("button", name="Remove passkey First passkey").click()
    page.wait_for_url(f"{base}/account")
    assert page.get_by_role("button", name=re.compile("^Remove passkey")).count() == 0
    assert page.get_by_text("your only passkey").is_visible()


def test_create_and_revoke_a_token(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, _ = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Token Maker")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("Claude Code")
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("heading", name="Token created").wait_for()
    token = page.get_by_label("Token “Claude Code”").input_value()
    assert looks_like_api_token(token)
    user_id = check_token(browser_gateway.database_url, token)
    assert user_id is not None

    page.get_by_role("link", name="Back to tokens").click()
    assert token not in page.content()  # shown once only
    row = page.locator("tr", has_text="Claude Code")
    assert row.locator(".token-status").inner_text() == "active"
    row.get_by_role("button", name="Revoke token Claude Code").click()
    page.wait_for_url(f"{base}/tokens")
    assert page.locator("tr", has_text="Claude Code").locator(".token-status").inner_text() == (
        "revoked"
    )
    assert check_token(browser_gateway.database_url, token) is None


def test_sign_in_fails_without_user_verification(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Unverified")
    sign_out(page, base)
    authenticator.set_user_verified(False)
    page.get_by_role("button", name="Sign in with a passkey").click()
    status = page.locator("#status.error")
    status.wait_for()
    assert page.url == f"{base}/signin"
    page.goto(f"{base}/account")
    page.wait_for_url(f"{base}/signin")


def test_bad_names_show_a_clear_error_and_create_nothing(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    page.goto(f"{base}/signup")
    for name, message in [
        ("", "Display name must not be empty"),
        ("<script>alert(1)</script>", "Display name must not contain < or >"),
        ("right\u202eto-left", "must not contain control or invisible formatting"),
    ]:
        page.get_by_label("Your name").fill(name)
        page.get_by_role("button", name="Create a passkey").click()
        page.locator("#status.error", has_text=message).wait_for()
    assert authenticator.credentials() == []  # the authenticator was never asked
    assert page.get_by_label("Your name").get_attribute("maxlength") == "64"
    assert page.url == f"{base}/signup"


def test_pages_obey_the_csp_and_fit_a_phone(chromium: Any, browser_gateway: Any) -> None:
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        for path in ("/signin", "/signup"):
            response = page.goto(f"{browser_gateway.url}{path}")
            assert response is not None
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} scrolls sideways on a phone ({width}px)"
            assert page.locator("main h1").count() == 1
            assert page.get_by_role("link", name="Skip to content").count() == 1
        assert problems == []  # no CSP violations, no script errors
    finally:
        context.close()


def age_sign_in(database_url: str, minutes: int) -> None:
    from datetime import timedelta

    from mcpod_gateway.models import WebSession
    from mcpod_gateway.models.base import utcnow
    from sqlalchemy import update

    async def age() -> None:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as db:
                await db.exec(
                    update(WebSession).values(created_at=utcnow() - timedelta(minutes=minutes))
                )
                await db.commit()
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, age()).result()


def test_adding_a_passkey_long_after_sign_in_asks_to_confirm_first(
    passkey_page: tuple[Page, VirtualAuthenticator], browser_gateway: Any
) -> None:
    page, authenticator = passkey_page
    base = browser_gateway.url
    sign_up(page, base, "Stale Session")
    age_sign_in(browser_gateway.database_url, 24 * 60)  # every session: other tests re-sign-in
    page.get_by_label("Name for the new passkey").fill("Later key")
    page.get_by_role("button", name="Add passkey").click()
    page.wait_for_url(f"{base}/signin?reauth=1&next=/account")
    assert page.get_by_role("heading", name="Confirm it's you").is_visible()
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(f"{base}/account")
    authenticator.replace(transport="usb")
    page.get_by_label("Name for the new passkey").fill("Later key")
    page.get_by_role("button", name="Add passkey").click()
    page.get_by_role("cell", name="Later key", exact=True).wait_for()
