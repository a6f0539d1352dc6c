"""Recognising a plain, well-formed `tools/call` so it can skip the SDK's server layer (pure).

Tool calls are nearly all of a connection's traffic.  Routed through the SDK's Streamable HTTP
machinery (per-request transport, dispatcher, re-validation of params and result against the
per-version schemas), each one costs about a millisecond of Python on top of the upstream's own
work.  For a request that is unambiguously fine, the bridge can forward it directly; anything
else - another method, a notification, any header or envelope the checks below do not clearly
accept - returns None here and goes through the SDK, which stays the one authority on errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

HANDSHAKE_VERSIONS: Final = frozenset({"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"})
MODERN_VERSION: Final = "2026-07-28"
META_PROTOCOL_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
# Envelope keys of the 2026-07-28 wire that the handshake-era upstream must not see.
_ENVELOPE_PREFIX: Final = "io.modelcontextprotocol/"


@dataclass(frozen=True, slots=True)
class FastToolCall:
    request_id: str | int
    name: str
    arguments: dict[str, Any]
    modern: bool


def plan_fast_tool_call(body: bytes, headers: Mapping[str, str]) -> FastToolCall | None:
    """The call to forward directly, or None to let the SDK handle the request.

    `headers` has lower-case names.
    """
    if any(name.startswith("mcp-param-") for name in headers):
        return None  # tool-argument headers: the SDK validates those against the schema
    accept = headers.get("accept", "")
    if "application/json" not in accept and "*/*" not in accept:
        return None
    if "application/json" not in headers.get("content-type", ""):
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    if message.get("method") != "tools/call" or set(message) - {
        "jsonrpc",
        "id",
        "method",
        "params",
    }:
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    params = message.get("params")
    if not isinstance(params, dict) or set(params) - {"name", "arguments", "_meta"}:
        return None
    name = params.get("name")
    arguments = params.get("arguments", {})
    if not isinstance(name, str) or not name or not isinstance(arguments, dict):
        return None
    meta = params.get("_meta")
    if meta is not None and not isinstance(meta, dict):
        return None
    version = headers.get("mcp-protocol-version")
    if version is None or version in HANDSHAKE_VERSIONS:
        # The handshake era: per-request metadata other than the modern envelope is unknown
        # to the bridge (progress tokens and the like): leave those to the SDK.
        if meta:
            return None
        return FastToolCall(request_id, name, arguments, modern=False)
    if version != MODERN_VERSION or not isinstance(meta, dict):
        return None
    if meta.get(META_PROTOCOL_VERSION) != version or META_CLIENT_CAPABILITIES not in meta:
        return None
    if any(not key.startswith(_ENVELOPE_PREFIX) for key in meta):
        return None
    if headers.get("mcp-method") != "tools/call" or headers.get("mcp-name") != name:
        return None
    return FastToolCall(request_id, name, arguments, modern=True)


def jsonrpc_result(request_id: str | int, result: Mapping[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()


def jsonrpc_error(request_id: str | int | None, code: int, message: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    ).encode()
