"""A second real OAuth client: ``mcp-remote`` (npm), the stdio-to-remote proxy many agents use.

It discovers the gateway, registers itself (DCR), opens the authorization URL
with the system browser opener — here ``BROWSER`` points at a script that
hands the URL to headless Chromium — and waits for the code on its own
loopback callback server.  The MCP SDK then talks to it over stdio.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.gateway import LiveGateway, live_gateway
from support.oauth_agent import CHROMIUM, BrowserPerson, browser_person

CLIENTS = Path(__file__).parent / "clients"
CACHE = Path(
    os.environ.get("MCPOD_TEST_CLIENTS_DIR", Path.home() / ".cache" / "mcpod" / "test-clients")
)
CALLBACK_PORT = 47200


@pytest.fixture(scope="module")
def mcp_remote() -> Path:
    """The pinned mcp-remote, installed once into a cache directory (skips without npm)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to run mcp-remote")
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest = (CLIENTS / "package.json").read_text()
    entry = CACHE / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    current = CACHE / "package.json"
    if current.exists() and current.read_text() == manifest and entry.exists():
        return entry
    (CACHE / "package.json").write_text(manifest)
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CACHE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if installed.returncode != 0 or not entry.exists():
        pytest.skip(f"mcp-remote could not be installed: {installed.stderr[-500:]}")
    return entry


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(
        tmp_path_factory.mktemp("remote-gateway"), MCPOD_TOKEN_CACHE_SECONDS="0"
    ) as gw:
        yield gw


async def approve_when_opened(person: BrowserPerson, url_file: Path) -> None:
    """Act as the browser the opener started: load the URL, approve, let it call back."""
    for _ in range(600):  # bounded: 60 s
        if url_file.exists() and url_file.read_text().strip():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("mcp-remote never opened a browser")
    await person.page.goto(url_file.read_text().strip())
    for _ in range(300):
        if await person.page.locator("#allow").count():
            person.steps.append("consent")
            await person.page.click("#allow")
            await person.page.wait_for_url(f"http://localhost:{CALLBACK_PORT}/**")
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no consent page; at {person.page.url}")


async def test_mcp_remote_signs_in_through_the_gateway(
    gateway: LiveGateway, mcp_remote: Path, tmp_path: Path
) -> None:
    from mcp import StdioServerParameters
    from mcp.client import Client
    from mcp.client.stdio import stdio_client

    url_file = tmp_path / "opened-url.txt"
    opener = tmp_path / "browser.sh"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{url_file}"\n')
    opener.chmod(0o755)
    auth_dir = tmp_path / "mcp-auth"
    params = StdioServerParameters(
        command="node",
        args=[str(mcp_remote), gateway.url + "/mcp", str(CALLBACK_PORT), "--allow-http"],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "MCP_REMOTE_CONFIG_DIR": str(auth_dir),
            "BROWSER": str(opener),
        },
    )
    async with browser_person("http://127.0.0.1:47299/") as person:
        await person.sign_up(gateway.url, "Ada")
        approving = asyncio.create_task(approve_when_opened(person, url_file))
        async with asyncio.timeout(120), Client(stdio_client(params), cache=None) as client:
            tools = await client.list_tools()
        await approving
        final_url = person.page.url
    assert "list_connections" in {tool.name for tool in tools.tools}
    assert person.steps == ["consent"]
    assert final_url.startswith(f"http://localhost:{CALLBACK_PORT}/oauth/callback?code=")
    assert f"iss={gateway.url.replace(':', '%3A').replace('/', '%2F')}" in final_url
    opened = url_file.read_text()
    assert "code_challenge_method=S256" in opened
    assert "resource=" in opened
    stored = [json.loads(p.read_text()) for p in auth_dir.rglob("*_tokens.json")]
    assert stored, "mcp-remote kept no tokens"
    assert stored[0]["access_token"].startswith("mcpod_oat_")
    assert stored[0]["refresh_token"].startswith("mcpod_ort_")
