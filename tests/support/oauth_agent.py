"""A real MCP agent (the MCP Python SDK's OAuth client) whose browser part is headless Chromium.

The SDK discovers the gateway's metadata, registers (or uses a client ID
metadata document), and hands the authorization URL to ``redirect_handler``;
here that opens the URL in Chromium with a CDP virtual passkey, signs in when
asked, presses Allow on the consent page, and catches the redirect to the
agent's loopback callback.  ``steps`` records what the person saw.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

# One Chromium setup for every browser test.
from fixtures.browser import CHROMIUM, CHROMIUM_ARGS, PLATFORM_AUTHENTICATOR


@dataclass
class BrowserPerson:
    """A person at a browser with one passkey, who approves what agents ask (or not)."""

    page: Any
    callback_prefix: str
    decision: str = "allow"
    steps: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)

    async def sign_up(self, base_url: str, name: str) -> None:
        await self.page.goto(base_url + "/signup")
        await self.page.fill("#display_name", name)
        await self.page.click("#signup")
        await self.page.wait_for_url(base_url + "/connections")

    async def sign_out(self, base_url: str) -> None:
        await self.page.goto(base_url + "/account")
        await self.page.click("form.signout button")
        await self.page.wait_for_url(base_url + "/signin")

    async def follow_authorization(self, url: str) -> None:
        """What redirect_handler does: open the URL and act until the agent is called back."""
        seen = len(self.callbacks)
        await self.page.goto(url)
        signed_in = False
        for _ in range(300):  # bounded: 30 s at most
            if len(self.callbacks) > seen:
                return
            if not signed_in and await self.page.locator("#signin").count():
                self.steps.append("sign-in")
                signed_in = True
                await self.page.click("#signin")
            elif await self.page.locator("#allow").count():
                self.steps.append("consent")
                await self.page.click("#" + self.decision)
                await self.page.wait_for_timeout(100)
            elif await self.page.locator("#oauth-error").count():
                self.steps.append("error")
                raise AssertionError(await self.page.inner_text("#oauth-error"))
            await asyncio.sleep(0.1)
        raise AssertionError(f"no callback to the agent; last page {self.page.url}")

    def last_callback(self) -> dict[str, str]:
        query = parse_qs(urlsplit(self.callbacks[-1]).query)
        return {key: values[0] for key, values in query.items()}


async def _answer_callback(
    person: BrowserPerson, origin: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request_line = (await reader.readline()).decode("latin-1")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        parts = request_line.split(" ")
        if len(parts) >= 2 and "?" in parts[1]:  # not the browser's /favicon.ico
            person.callbacks.append(origin + parts[1])
        body = b"You can close this window."
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    finally:
        writer.close()


@asynccontextmanager
async def browser_person(callback_prefix: str) -> AsyncIterator[BrowserPerson]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context()
            page = await context.new_page()
            page.set_default_timeout(20_000)
            cdp = await context.new_cdp_session(page)
            await cdp.send("WebAuthn.enable", {"enableUI": False})
            await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR})
            person = BrowserPerson(page=page, callback_prefix=callback_prefix)
            # The agent's loopback callback, a real listener as agents run it.
            parts = urlsplit(callback_prefix)
            server = await asyncio.start_server(
                functools.partial(_answer_callback, person, callback_prefix.rstrip("/")),
                parts.hostname,
                parts.port,
            )
            async with server:
                yield person
        finally:
            await browser.close()


class MemoryTokenStorage:
    """The SDK's TokenStorage, in memory (what an agent keeps between calls)."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def oauth_provider(
    mcp_url: str,
    person: BrowserPerson,
    storage: MemoryTokenStorage,
    *,
    redirect_uri: str,
    client_metadata_url: str | None = None,
) -> Any:
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    async def callback_handler() -> AuthorizationCodeResult:
        query = person.last_callback()
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error']}")
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    metadata = OAuthClientMetadata(
        client_name="mcpod e2e agent",
        redirect_uris=[redirect_uri],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=person.follow_authorization,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )


@asynccontextmanager
async def oauth_agent(mcp_url: str, provider: Any) -> AsyncIterator[Any]:
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(60)) as http:
        transport = streamable_http_client(mcp_url, http_client=http)
        async with Client(transport, cache=None) as client:
            yield client
