"""The call from the gateway to one bridge: a 2026-07-28 request, with a timeout.

Bridges answer JSON (one request in, one response out), so a pooled HTTP/1.1
client is all the gateway needs (``bridge_http``).  The agent's token never travels
further — the bridge gets its own token.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.shared.inbound import MCP_NAME_HEADER, encode_header_value

from ..connections.model import BridgeEndpoint
from .bridge_http import BridgeHttp, BridgeHttpError
from .protocol import bridge_request


class BridgeCallError(Exception):
    """The bridge could not be reached or did not answer; ``kind`` says how."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout" | "unavailable" | "protocol"


class BridgeRpcError(Exception):
    """The bridge answered with a JSON-RPC error (passed on to the agent)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BridgeClient:
    def __init__(self) -> None:
        self._http = BridgeHttp()

    async def close(self) -> None:
        self._http.close()

    async def request(
        self,
        endpoint: BridgeEndpoint,
        method: str,
        params: dict[str, Any],
        *,
        time_limit: float,
    ) -> dict[str, Any]:
        body, headers = bridge_request(method, params)
        headers["authorization"] = f"Bearer {endpoint.token}"
        if method == "tools/call":
            headers[MCP_NAME_HEADER] = encode_header_value(str(params.get("name", "")))
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            status, raw = await self._http.post(
                endpoint.url,
                headers,
                payload,
                time_limit=time_limit,
                connect_limit=min(5.0, time_limit),
            )
        except TimeoutError:
            raise BridgeCallError("timeout", f"no answer within {time_limit:g}s") from None
        except (BridgeHttpError, OSError):
            raise BridgeCallError(
                "unavailable", "the connection's server cannot be reached"
            ) from None
        if status == 503:
            raise BridgeCallError("unavailable", "the connection's server is not ready")
        if status == 401:
            raise BridgeCallError("protocol", "the connection's server refused the gateway")
        try:
            message = json.loads(raw)
        except ValueError:
            raise BridgeCallError(
                "protocol", f"unexpected answer from the connection's server ({status})"
            ) from None
        if isinstance(message, dict) and isinstance(message.get("result"), dict):
            result: dict[str, Any] = message["result"]
            return result
        if isinstance(message, dict) and isinstance(message.get("error"), dict):
            error = message["error"]
            raise BridgeRpcError(int(error.get("code", -32603)), str(error.get("message", "")))
        raise BridgeCallError("protocol", "unexpected answer from the connection's server")
