"""The connections and activity pages in real headless Chromium, against a served gateway whose
local backend runs bridges over the fake upstream; an agent's calls go through /mcp."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.browser import VirtualAuthenticator
from fixtures.mcp_gateway import FAKE_UPSTREAM_COMMAND, modern_request, sentinel_pat

Page = Any


@pytest.fixture(scope="module")
def connections_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fixtures.gateway import live_gateway

    with live_gateway(
        tmp_path_factory.mktemp("connections-gateway"), MCPOD_UPSTREAM_COMMAND=FAKE_UPSTREAM_COMMAND
    ) as gateway:
        yield gateway


def sign_up(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url(f"{base}/connections")


def create_token(page: Page, base: str) -> str:
    page.goto(f"{base}/tokens")
    page.get_by_label("Name").fill("browser-agent")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("heading", name="Token created").wait_for()
    token: str = page.get_by_label("Token “browser-agent”").input_value()
    return token


def call(base: str, token: str, name: str) -> dict[str, Any]:
    body, headers = modern_request("tools/call", {"name": name, "arguments": {}})
    headers["authorization"] = f"Bearer {token}"
    reply = httpx.post(
        f"{base.replace('localhost', '127.0.0.1')}/mcp", json=body, headers=headers, timeout=60
    )
    answer: dict[str, Any] = reply.json()
    return answer


def test_create_use_edit_rotate_suspend_and_delete_a_connection(
    passkey_page: tuple[Page, VirtualAuthenticator], connections_gateway: Any
) -> None:
    page, _ = passkey_page
    base = connections_gateway.url
    pat = sentinel_pat("browser")
    sign_up(page, base, "Grace Hopper")
    assert page.locator("#no-connections").is_visible()

    # Bad input: every problem named, typed values kept, the PAT not sent back.
    page.get_by_label("Name (the tool prefix").fill("Bad Slug")
    page.get_by_label("Personal access token").fill("short")
    page.get_by_label("Azure DevOps organization").fill("-contoso")
    page.get_by_label("Stop when idle for").fill("forever")
    page.get_by_role("button", name="Add connection").click()
    assert page.locator("#slug-error").is_visible()
    assert page.locator("#pat-error").is_visible()
    assert page.locator("#organization-error").is_visible()
    assert page.locator("#idle_timeout-error").is_visible()
    assert page.get_by_label("Name (the tool prefix").input_value() == "Bad Slug"
    assert page.get_by_label("Personal access token").input_value() == ""
    assert "short" not in page.content()

    # A good one.
    page.get_by_label("Name (the tool prefix").fill("work")
    page.get_by_label("Personal access token").fill(pat)
    page.get_by_label("Azure DevOps organization").fill("contoso")
    page.get_by_label("Stop when idle for").fill("")
    page.get_by_label("core", exact=True).check()
    page.get_by_role("button", name="Add connection").click()
    page.wait_for_url(f"{base}/connections")
    row = page.locator("tr[data-slug='work']")
    assert row.locator("td[data-label='Organization']").inner_text() == "contoso"
    assert pat not in page.content()

    # The same name again is refused clearly.
    page.get_by_label("Name (the tool prefix").fill("work")
    page.get_by_label("Personal access token").fill(pat)
    page.get_by_label("Azure DevOps organization").fill("contoso")
    page.get_by_role("button", name="Add connection").click()
    assert "already have a connection named 'work'" in page.locator("#form-error").inner_text()

    # An agent uses it; the live status follows without a reload.
    token = create_token(page, base)
    page.goto(f"{base}/connections")
    answer = call(base, token, "work__core_list_projects")
    assert json.loads(answer["result"]["content"][0]["text"])["organization"] == "contoso"
    page.locator("tr[data-slug='work'] .connection-phase", has_text="Ready").wait_for(
        timeout=20_000
    )

    # Edit, rotate the PAT, suspend, resume.
    page.goto(f"{base}/connections/work")
    page.get_by_label("Read-only").check()
    page.get_by_label("Deny these tools").fill("not a glob")
    page.get_by_role("button", name="Save").click()
    assert page.locator("#tools_deny-error").is_visible()
    page.get_by_label("Deny these tools").fill("core_get_identity_ids")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/connections")
    assert "read-only" in page.locator("tr[data-slug='work']").inner_text()
    page.goto(f"{base}/connections/work")
    page.get_by_label("New personal access token").fill(sentinel_pat("rotated"))
    page.get_by_role("button", name="Replace token").click()
    assert page.locator("#notice").is_visible()
    page.get_by_role("button", name=re.compile("^Suspend")).click()
    page.wait_for_url(f"{base}/connections")
    suspended = call(base, token, "work__core_list_projects")
    assert suspended["result"]["isError"]
    assert "suspended" in suspended["result"]["content"][0]["text"]
    page.get_by_role("button", name="Resume work").click()
    page.wait_for_url(f"{base}/connections")
    resumed = call(base, token, "work__core_list_projects")
    assert not resumed["result"].get("isError"), resumed

    # The activity page lists the calls (never their arguments).
    page.goto(f"{base}/activity")
    outcomes = page.locator("#activity .outcome").all_inner_texts()
    assert "ok" in outcomes
    assert "unavailable" in outcomes

    # Delete: gone from the page and from /mcp, like a name that never existed.
    page.goto(f"{base}/connections/work")
    page.get_by_role("button", name="Delete work and its token").click()
    page.wait_for_url(f"{base}/connections")
    assert page.locator("#no-connections").is_visible()
    gone = call(base, token, "work__core_list_projects")
    never = call(base, token, "never__core_list_projects")
    assert gone["error"]["code"] == never["error"]["code"]
    for path in Path(connections_gateway.data_dir).rglob("*"):
        if path.is_file():
            assert pat.encode() not in path.read_bytes(), path


def test_another_users_connection_page_is_not_found(
    passkey_page: tuple[Page, VirtualAuthenticator], connections_gateway: Any
) -> None:
    page, _ = passkey_page
    base = connections_gateway.url
    sign_up(page, base, "Owner")
    page.get_by_label("Name (the tool prefix").fill("private")
    page.get_by_label("Personal access token").fill(sentinel_pat())
    page.get_by_label("Azure DevOps organization").fill("owner-org")
    page.get_by_role("button", name="Add connection").click()
    page.wait_for_url(f"{base}/connections")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(f"{base}/signin")
    sign_up(page, base, "Visitor")
    theirs = page.goto(f"{base}/connections/private")
    nobodys_text = page.content()
    nobodys = page.goto(f"{base}/connections/nothing")
    assert theirs is not None
    assert nobodys is not None
    assert theirs.status == nobodys.status == 404
    assert "owner-org" not in nobodys_text
    status = page.goto(f"{base}/connections/status")
    assert status is not None
    assert "private" not in status.text()
