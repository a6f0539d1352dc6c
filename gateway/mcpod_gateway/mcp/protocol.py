"""JSON-RPC and MCP wire shapes for both protocol generations (pure, no I/O).

2026-07-28 requests are self-contained (``params._meta`` carries the protocol
version and client capabilities, mirrored in headers); 2025-11-25 requests
belong to a session opened by ``initialize``.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any, Final

from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

__all__ = [
    "CLIENT_CAPABILITIES_META_KEY",
    "CLIENT_INFO_META_KEY",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PROTOCOL_VERSION_META_KEY",
]

LEGACY_VERSIONS: Final = tuple(HANDSHAKE_PROTOCOL_VERSIONS)
MODERN_VERSIONS: Final = tuple(MODERN_PROTOCOL_VERSIONS)
LATEST_LEGACY: Final = "2025-11-25" if "2025-11-25" in LEGACY_VERSIONS else LEGACY_VERSIONS[-1]
MODERN_TO_BRIDGE: Final = MODERN_VERSIONS[-1]
SERVER_INFO_META_KEY: Final = "io.modelcontextprotocol/serverInfo"
SERVER_NAME: Final = "mcpod"


def _installed_version() -> str:
    try:
        return metadata.version("mcpod")
    except metadata.PackageNotFoundError:  # a source tree without install
        return "0"


SERVER_VERSION: Final = _installed_version()
INSTRUCTIONS: Final = (
    "Azure DevOps through mcpod. Tools are named <connection>__<tool>; call list_connections "
    "to see your connections and their state. A connection that is idle starts on its first "
    "call, which can take a few seconds."
)


class RpcError(Exception):
    """A JSON-RPC error to send back; ``message`` is safe to show to the caller."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def decode_message(body: bytes) -> dict[str, Any]:
    """One JSON-RPC request or notification object, or RpcError."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise RpcError(PARSE_ERROR, "Parse error: the body is not JSON") from None
    if isinstance(message, list):
        raise RpcError(INVALID_REQUEST, "Batches are not supported: send one request per POST")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object")
    if not isinstance(message.get("method"), str):
        if "result" in message or "error" in message:
            raise RpcError(INVALID_REQUEST, "This server sends no requests to answer")
        raise RpcError(INVALID_REQUEST, "Invalid Request: 'method' must be a string")
    if "id" in message and not _valid_id(message["id"]):
        raise RpcError(INVALID_REQUEST, "Invalid Request: 'id' must be a string or an integer")
    params = message.get("params")
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'params' must be an object")
    return message


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def is_notification(message: dict[str, Any]) -> bool:
    return "id" not in message


def response(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.payload()}


def modern_status(error: RpcError) -> int:
    return ERROR_CODE_HTTP_STATUS.get(error.code, 200)


def negotiate_legacy_version(requested: Any) -> str:
    return requested if requested in LEGACY_VERSIONS else LATEST_LEGACY


def server_info(version: str) -> dict[str, str]:
    return {"name": SERVER_NAME, "version": version}


def initialize_result(requested: Any, version: str) -> dict[str, Any]:
    return {
        "protocolVersion": negotiate_legacy_version(requested),
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": server_info(version),
        "instructions": INSTRUCTIONS,
    }


def discover_result(version: str) -> dict[str, Any]:
    return {
        "supportedVersions": list(MODERN_VERSIONS),
        "capabilities": {"tools": {"listChanged": False}},
        "instructions": INSTRUCTIONS,
        "resultType": "complete",
        "cacheScope": "private",
        "ttlMs": 0,
        "_meta": {SERVER_INFO_META_KEY: server_info(version)},
    }


def for_modern(result: dict[str, Any], version: str, *, listing: bool) -> dict[str, Any]:
    """Mark a result final for a 2026-07-28 caller (and private, never cached, for lists)."""
    shaped = {**result, "resultType": "complete"}
    if listing:
        shaped.update(cacheScope="private", ttlMs=0)
    meta = dict(shaped.get("_meta") or {})
    meta[SERVER_INFO_META_KEY] = server_info(version)
    shaped["_meta"] = meta
    return shaped


def for_legacy(result: dict[str, Any]) -> dict[str, Any]:
    """Drop the fields a handshake-era client does not know."""
    shaped = {k: v for k, v in result.items() if k not in ("resultType", "cacheScope", "ttlMs")}
    meta = shaped.get("_meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k != SERVER_INFO_META_KEY}
        if meta:
            shaped["_meta"] = meta
        else:
            shaped.pop("_meta")
    return shaped


def text_result(text: str, *, is_error: bool) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def bridge_request(
    method: str, params: dict[str, Any], request_id: int = 1
) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request to a bridge: the body and the routing headers it requires."""
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {
            **params,
            "_meta": {
                PROTOCOL_VERSION_META_KEY: MODERN_TO_BRIDGE,
                CLIENT_CAPABILITIES_META_KEY: {},
                CLIENT_INFO_META_KEY: {"name": "mcpod-gateway", "version": "1"},
            },
        },
    }
    headers = {
        "mcp-protocol-version": MODERN_TO_BRIDGE,
        "mcp-method": method,
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    return body, headers
