"""The MCP server the bridge presents: the upstream's tools, filtered, forwarded on one session.

Built on the SDK's low-level `Server`, so both protocol generations (2026-07-28 per-request
envelopes and the 2025-11-25 handshake) are spoken by the SDK.  Results travel as the raw
dicts the upstream sent: the bridge neither re-validates nor rebuilds them.
"""

from __future__ import annotations

import re
from typing import Any, Final

import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    SERVER_INFO_META_KEY,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from mcpod_common.tool_filter import ToolPolicy

from mcpod_bridge import __version__
from mcpod_bridge.fast_path import FastToolCall, jsonrpc_error, jsonrpc_result
from mcpod_bridge.upstream import Upstream, UpstreamGoneError

# The upstream's SDK throws this when a tool wants to ask the user to pick a project or team
# and the client did not declare elicitation - which the bridge never does.
_ELICITATION_FAILURE = re.compile(r"does not support (?:form |url )?elicitation", re.IGNORECASE)
ELICITATION_HINT: Final = (
    "This tool needs a project or team and would ask you to pick one, which this connection "
    "cannot do. Pass the project (and team) as arguments, or set a default project/team for "
    "this connection."
)


def explain_elicitation_failure(result: dict[str, Any]) -> dict[str, Any]:
    """Replace the upstream's "does not support elicitation" failure with what to do about it."""
    if not result.get("isError"):
        return result
    content = result.get("content")
    if not isinstance(content, list):
        return result
    for item in content:
        if (
            isinstance(item, dict)
            and isinstance(item.get("text"), str)
            and _ELICITATION_FAILURE.search(item["text"])
        ):
            return {
                **result,
                "content": [{"type": "text", "text": f"{ELICITATION_HINT} ({item['text']})"}],
            }
    return result


def upstream_error(exc: MCPError | UpstreamGoneError, method: str, timeout: float) -> MCPError:
    """A clear error for the agent when the upstream could not answer."""
    if isinstance(exc, UpstreamGoneError) or exc.code == CONNECTION_CLOSED:
        return MCPError(
            code=INTERNAL_ERROR,
            message="the Azure DevOps MCP server of this connection stopped; it is being restarted",
        )
    if exc.code == REQUEST_TIMEOUT:
        return MCPError(
            code=REQUEST_TIMEOUT,
            message=f"the Azure DevOps MCP server did not answer {method} within {timeout:g}s",
        )
    return exc


def for_protocol(ctx: ServerRequestContext[Any], result: dict[str, Any]) -> dict[str, Any]:
    """Mark an upstream (handshake-era) result as final for a 2026-07-28 caller, who requires
    `resultType`; the legacy wire does not know the field."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS and "resultType" not in result:
        return {**result, "resultType": "complete"}
    return result


class BridgeServer:
    """Holds the policy and the upstream; `server` is the SDK object serving them."""

    def __init__(self, upstream: Upstream, policy: ToolPolicy, call_timeout: float) -> None:
        self.upstream = upstream
        self.policy = policy
        self.call_timeout = call_timeout
        # The catalogue is per connection (private) and changes when the pod restarts with
        # other settings, so clients should not reuse it without asking.
        self.server: Server[Any] = Server(
            "mcpod-bridge",
            version=__version__,
            cache_hints={"tools/list": CacheHint(ttl_ms=0, scope="private")},
        )
        self.server.add_request_handler(
            "tools/list", types.PaginatedRequestParams, self._list_tools
        )
        self.server.add_request_handler("tools/call", types.CallToolRequestParams, self._call_tool)

    def adopt_upstream_identity(self) -> None:
        """Present the upstream's name, version and instructions once it has told them."""
        info = self.upstream.info
        if info is not None:
            self.server.name = info.name
            self.server.version = info.version
            self.server.instructions = info.instructions

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
    ) -> HandlerResult:
        try:
            tools = await self.upstream.list_tools(self.call_timeout)
        except (MCPError, UpstreamGoneError) as exc:
            raise upstream_error(exc, "tools/list", self.call_timeout) from None
        # The whole filtered catalogue in one page: 40 tools at most, ~73 KB.
        return for_protocol(ctx, {"tools": self.policy.filter_tools(tools)})

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> HandlerResult:
        arguments = dict(params.arguments or {})
        refusal = self.policy.refusal(params.name, arguments)
        if refusal is not None:
            raise MCPError(code=INVALID_PARAMS, message=f"refused: {refusal}")
        try:
            result = await self.upstream.request(
                "tools/call", {"name": params.name, "arguments": arguments}, self.call_timeout
            )
        except (MCPError, UpstreamGoneError) as exc:
            raise upstream_error(exc, f"tools/call {params.name}", self.call_timeout) from None
        return for_protocol(ctx, explain_elicitation_failure(result))

    async def forward_call(self, call: FastToolCall) -> bytes | None:
        """Answer a plain `tools/call` without the SDK's server layer (see `fast_path`).

        None when the policy refuses the call: the SDK path then produces the refusal, so
        every error shape comes from one place.
        """
        if self.policy.refusal(call.name, call.arguments) is not None:
            return None
        try:
            result = await self.upstream.request(
                "tools/call", {"name": call.name, "arguments": call.arguments}, self.call_timeout
            )
        except (MCPError, UpstreamGoneError) as exc:
            error = upstream_error(exc, f"tools/call {call.name}", self.call_timeout).error
            return jsonrpc_error(call.request_id, error.code, error.message)
        result = explain_elicitation_failure(result)
        if call.modern:
            # What the SDK adds on this wire: the result type and the server identity stamp.
            meta = result.get("_meta")
            result = {
                "resultType": "complete",
                **result,
                "_meta": {
                    **(meta if isinstance(meta, dict) else {}),
                    SERVER_INFO_META_KEY: self.server.server_info_stamp,
                },
            }
        return jsonrpc_result(call.request_id, result)
