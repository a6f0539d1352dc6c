"""``/mcp``: the one endpoint for agents, speaking both protocol generations.

Per request: Origin check (403), bearer check (401 with ``WWW-Authenticate``),
body limit (413), JSON-RPC parsing, then a :class:`UserProxy` bound to the
caller.  Nothing about a session lives in this process: a 2025-11-25 session is
a database row, and a 2026-07-28 request carries everything itself, so any
replica answers any request.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from fastapi import Request
from mcp.shared.inbound import (
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp_types import HEADER_MISMATCH
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..auth.bearer import Principal, bearer_token_from_header
from ..oauth.resource import SCOPE_MCP, bearer_challenge
from ..security_headers import security_headers
from . import protocol
from .protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    RpcError,
    decode_message,
    error_response,
    response,
)
from .proxy import McpServices, UserProxy
from .sessions import SessionStore
from .settings import McpSettings

log = logging.getLogger(__name__)

SESSION_HEADER: Final = "mcp-session-id"
_JSON: Final = "application/json"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=_JSON,
        headers=headers,
    )


def _plain_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return _json(error_response(None, RpcError(code, message)), status, headers)


def allowed_origin(origin: str | None, public_url: str, extra: list[str]) -> bool:
    """No Origin (non-browser clients) is fine; a browser's must be ours or configured."""
    if origin is None:
        return True
    normalised = origin.strip().lower().rstrip("/")
    return normalised == public_url.lower().rstrip("/") or normalised in extra


def www_authenticate(public_url: str, *, invalid: bool) -> str:
    # The challenge format is owned by the OAuth package (one canonical resource URL).
    if not invalid:
        return bearer_challenge(public_url)
    return bearer_challenge(
        public_url,
        error="invalid_token",
        description="the token is invalid, expired or revoked",
    )


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name, the first of repeated ones (as Starlette's
    ``Headers.get``), decoded once rather than on every lookup."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        headers.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
    return headers


async def _read_body(request: Request, headers: dict[str, str], limit: int) -> bytes | None:
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _authenticate(request: Request, headers: dict[str, str]) -> Principal | Response:
    settings = request.app.state.settings
    header = headers.get("authorization")
    token = bearer_token_from_header(header)
    if token is None:
        return _json(
            {"error": "unauthorized", "error_description": "a bearer token is required"},
            401,
            {"WWW-Authenticate": www_authenticate(settings.public_url, invalid=header is not None)},
        )
    principal: Principal | None = await request.app.state.bearer_verifier.verify(token)
    if principal is None:
        return _json(
            {
                "error": "invalid_token",
                "error_description": "the token is invalid, expired or revoked",
            },
            401,
            {"WWW-Authenticate": www_authenticate(settings.public_url, invalid=True)},
        )
    if SCOPE_MCP not in principal.scopes:
        # Step-up (RFC 6750 §3.1): a valid token without the scope /mcp needs.
        return _json(
            {
                "error": "insufficient_scope",
                "error_description": f"the {SCOPE_MCP} scope is needed",
            },
            403,
            {"WWW-Authenticate": bearer_challenge(settings.public_url, error="insufficient_scope")},
        )
    return principal


async def mcp_endpoint(request: Request) -> Response:
    mcp_settings: McpSettings = request.app.state.mcp_settings
    settings = request.app.state.settings
    headers = header_map(request.scope)
    if not allowed_origin(
        headers.get("origin"), settings.public_url, mcp_settings.mcp_allowed_origins
    ):
        return _json({"error": "forbidden", "error_description": "this Origin is not allowed"}, 403)
    authenticated = await _authenticate(request, headers)
    if isinstance(authenticated, Response):
        return authenticated
    principal = authenticated
    sessions: SessionStore = request.app.state.mcp_sessions
    if request.method == "GET":
        # No server-initiated messages: there is nothing to stream.
        return _method_not_allowed()
    if request.method == "DELETE":
        session_id = headers.get(SESSION_HEADER)
        if session_id is None:
            return _plain_error(
                400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"
            )
        if await sessions.close(session_id, user_id=principal.user_id):
            return Response(status_code=200)
        return _plain_error(404, INVALID_REQUEST, "Session not found")

    body = await _read_body(request, headers, mcp_settings.mcp_max_body_bytes)
    if body is None:
        return _plain_error(
            413,
            INVALID_REQUEST,
            f"Request body larger than {mcp_settings.mcp_max_body_bytes} bytes",
        )
    try:
        message = decode_message(body)
    except RpcError as exc:
        return _json(error_response(None, exc), 400)
    services: McpServices = request.app.state.mcp
    proxy = UserProxy(principal, services)
    version_header = headers.get(MCP_PROTOCOL_VERSION_HEADER)
    if version_header in protocol.MODERN_VERSIONS or (
        version_header is not None and version_header not in protocol.LEGACY_VERSIONS
    ):
        return await _modern(request, headers, message, proxy)
    return await _legacy(headers, message, proxy, sessions, version_header)


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "DELETE"})


def response_header_pairs(https: bool) -> list[tuple[bytes, bytes]]:
    """The security headers every gateway response carries, encoded once for ``/mcp``
    (which is served ahead of the middleware that adds them elsewhere)."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in security_headers(https=https).items()
    ]


def _method_not_allowed() -> Response:
    return Response(status_code=405, headers={"Allow": "POST, DELETE"})


async def mcp_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """``/mcp`` as a bare ASGI app: the gateway serves it ahead of middleware and routing
    (see :class:`mcpod_gateway.app.GatewayApp`)."""
    extra: list[tuple[bytes, bytes]] = scope["app"].state.mcp_header_pairs
    started = False

    async def send_with_headers(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    try:
        if scope["method"] in _METHODS:
            response = await mcp_endpoint(Request(scope, receive))
        else:
            response = _method_not_allowed()
        await response(scope, receive, send_with_headers)
    except Exception:
        log.exception("/mcp failed")
        if not started:
            failure = _plain_error(500, INTERNAL_ERROR, "Internal error")
            await failure(scope, receive, send_with_headers)


# ---- 2026-07-28: one self-contained request per POST ----


async def _modern(
    request: Request, headers: dict[str, str], message: dict[str, Any], proxy: UserProxy
) -> Response:
    if protocol.is_notification(message):
        return Response(status_code=202)
    request_id = message["id"]
    duplicated = find_duplicated_routing_header(request.headers.items())
    verdict: Any
    if duplicated is not None:
        verdict = InboundLadderRejection(
            code=HEADER_MISMATCH, message=f"{duplicated} header appears more than once"
        )
    else:
        verdict = classify_inbound_request(message, headers=headers)
    if isinstance(verdict, InboundLadderRejection):
        error = RpcError(verdict.code, verdict.message, verdict.data)
        return _json(error_response(request_id, error), protocol.modern_status(error))
    method = message["method"]
    params = message.get("params") or {}
    try:
        if method == "server/discover":
            result = protocol.discover_result(protocol.SERVER_VERSION)
        elif method == "tools/list":
            tools = await proxy.list_tools()
            result = protocol.for_modern({"tools": tools}, protocol.SERVER_VERSION, listing=True)
        elif method == "tools/call":
            name, arguments = _call_params(params)
            called = await proxy.call_tool(name, arguments)
            result = protocol.for_modern(
                protocol.for_legacy(called), protocol.SERVER_VERSION, listing=False
            )
        else:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    except RpcError as exc:
        return _json(error_response(request_id, exc), protocol.modern_status(exc))
    return _json(response(request_id, result))


# ---- 2025-11-25 and older: initialize, then requests within a session ----


async def _legacy(
    headers: dict[str, str],
    message: dict[str, Any],
    proxy: UserProxy,
    sessions: SessionStore,
    version_header: str | None,
) -> Response:
    method = message["method"]
    params = message.get("params") or {}
    if method == "initialize":
        if protocol.is_notification(message):
            return _plain_error(400, INVALID_REQUEST, "initialize must be a request with an id")
        info = params.get("clientInfo")
        client = str(info.get("name", ""))[:128] if isinstance(info, dict) else ""
        init = protocol.initialize_result(params.get("protocolVersion"), protocol.SERVER_VERSION)
        session_id = await sessions.open(
            user_id=proxy.owner, protocol_version=init["protocolVersion"], client_name=client
        )
        return _json(response(message["id"], init), headers={"Mcp-Session-Id": session_id})
    presented = headers.get(SESSION_HEADER)
    if presented is None:
        return _plain_error(
            400,
            INVALID_REQUEST,
            "Bad Request: Mcp-Session-Id header is required (initialize first)",
        )
    session_id = presented
    session = await sessions.find(session_id, user_id=proxy.owner)
    if session is None:
        # Unknown, expired, or another user's: the same answer.
        return _plain_error(404, INVALID_REQUEST, "Session not found")
    headers = {"Mcp-Session-Id": session_id}
    if protocol.is_notification(message):
        return Response(status_code=202, headers=headers)
    request_id = message["id"]
    try:
        if method == "ping":
            result: dict[str, Any] = {}
        elif method == "tools/list":
            result = {"tools": await proxy.list_tools()}
        elif method == "tools/call":
            name, arguments = _call_params(params)
            result = protocol.for_legacy(await proxy.call_tool(name, arguments))
        else:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    except RpcError as exc:
        return _json(error_response(request_id, exc), headers=headers)
    return _json(response(request_id, result), headers=headers)


def _call_params(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise RpcError(INVALID_PARAMS, "Invalid params: 'name' must be a non-empty string")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'arguments' must be an object")
    return name, arguments
