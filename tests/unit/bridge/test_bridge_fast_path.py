"""Which requests the bridge answers directly (mcpod_bridge.fast_path)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcpod_bridge.fast_path import FastToolCall, plan_fast_tool_call

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"},
}
BASE_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def body(**overrides: Any) -> bytes:
    message: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "wiki", "arguments": {"action": "list_wikis"}},
    }
    message.update(overrides)
    return json.dumps(message).encode()


def modern_headers(**extra: str) -> dict[str, str]:
    return {
        **BASE_HEADERS,
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "wiki",
        **extra,
    }


def test_legacy_call_is_direct() -> None:
    for headers in (BASE_HEADERS, {**BASE_HEADERS, "mcp-protocol-version": "2025-06-18"}):
        assert plan_fast_tool_call(body(), headers) == FastToolCall(
            3, "wiki", {"action": "list_wikis"}, modern=False
        )


def test_modern_call_is_direct() -> None:
    params = {"name": "wiki", "_meta": META}
    call = plan_fast_tool_call(body(id="a", params=params), modern_headers())
    assert call == FastToolCall("a", "wiki", {}, modern=True)


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (b"{not json", BASE_HEADERS),
        (b"[]", BASE_HEADERS),
        (body(method="tools/list"), BASE_HEADERS),
        (body(jsonrpc="1.0"), BASE_HEADERS),
        (body(id=True), BASE_HEADERS),
        (body(id=None), BASE_HEADERS),
        (body(id=[1]), BASE_HEADERS),
        (body(params={"arguments": {}}), BASE_HEADERS),
        (body(params={"name": "", "arguments": {}}), BASE_HEADERS),
        (body(params={"name": "wiki", "arguments": []}), BASE_HEADERS),
        (body(params={"name": "wiki", "extra": 1}), BASE_HEADERS),
        (body(params={"name": "wiki", "_meta": {"progressToken": 1}}), BASE_HEADERS),
        (body(extra=1), BASE_HEADERS),
        (body(), {**BASE_HEADERS, "accept": "text/event-stream"}),
        (body(), {**BASE_HEADERS, "content-type": "text/plain"}),
        (body(), {**BASE_HEADERS, "mcp-param-region": "x"}),
        (body(), {**BASE_HEADERS, "mcp-protocol-version": "2099-01-01"}),
        # The modern wire: every mismatch goes to the SDK, which explains it.
        (body(), modern_headers()),
        (body(params={"name": "wiki", "_meta": {**META, "x/y": 1}}), modern_headers()),
        (body(params={"name": "wiki", "_meta": META}), modern_headers(**{"mcp-name": "other"})),
        (body(params={"name": "wiki", "_meta": META}), modern_headers(**{"mcp-method": "x"})),
        (
            body(
                params={
                    "name": "wiki",
                    "_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2025-11-25"},
                }
            ),
            modern_headers(),
        ),
        (
            body(
                params={
                    "name": "wiki",
                    "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN},
                }
            ),
            modern_headers(),
        ),
    ],
)
def test_anything_else_goes_to_the_sdk(raw: bytes, headers: dict[str, str]) -> None:
    assert plan_fast_tool_call(raw, headers) is None
