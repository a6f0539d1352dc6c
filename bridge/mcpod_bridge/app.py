"""The bridge's HTTP surface: `/mcp` behind the bridge token, `/healthz` and `/readyz` for probes.

A bare ASGI app rather than a framework: three routes, and the hot path (`POST /mcp`) should
cost as little as possible on top of the SDK's Streamable HTTP handling.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcpod_common.bridge_token import tokens_match
from starlette.types import Message, Receive, Scope, Send

from mcpod_bridge.fast_path import plan_fast_tool_call
from mcpod_bridge.mcp_server import BridgeServer

logger = logging.getLogger("mcpod.bridge")

# After the child is gone, keep answering `/healthz` 503 this long before exiting, so a probe
# (or a person running curl) sees why the container is about to restart.
EXIT_LINGER_SECONDS: Final = 2.0
_JSON = [(b"content-type", b"application/json")]


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(payload)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _send_json(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body on as one message."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _plain_headers(scope: Scope) -> dict[str, str] | None:
    """Headers by lower-case name; None if an MCP routing header is repeated (the SDK then
    rejects the request)."""
    headers: dict[str, str] = {}
    for raw_key, raw_value in scope["headers"]:
        key: str = raw_key.decode("latin-1")
        if key in headers and key.startswith("mcp-"):
            return None
        headers[key] = raw_value.decode("latin-1")
    return headers


def _jsonrpc_error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def bearer_token(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class BridgeApp:
    """ASGI application; its lifespan owns the upstream process and the SDK session manager."""

    def __init__(
        self,
        bridge: BridgeServer,
        bridge_token: str,
        max_body_bytes: int,
        request_exit: Callable[[], None],
    ) -> None:
        self.bridge = bridge
        self.upstream = bridge.upstream
        self._token = bridge_token
        self._max_body = max_body_bytes
        self._request_exit = request_exit
        self.failed = False
        self._shutting_down = False
        # Set once the upstream's identity is adopted: the SDK caches it on first use.
        self._serving = False
        # The pod's own port is reached by the gateway as podIP:8080 (and locally as
        # 127.0.0.1:<port>), so the Host header is whatever address was dialled.  DNS
        # rebinding protection guards browsers reaching a local server; every caller here
        # must present the bridge token, which a rebinding page cannot know.
        self.sessions = StreamableHTTPSessionManager(
            app=bridge.server,
            json_response=True,
            stateless=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=max_body_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/mcp":
            await self._mcp(scope, receive, send)
        elif path == "/healthz":
            await self._healthz(send)
        elif path == "/readyz":
            await self._readyz(send)
        else:
            await _respond(
                send, 404, {"error": "not found", "paths": ["/mcp", "/healthz", "/readyz"]}
            )

    async def _healthz(self, send: Send) -> None:
        if self.upstream.gone.is_set():
            detail = self.upstream.failure or "the upstream process is gone"
            await _respond(send, 503, {"status": "failing", "detail": detail})
        else:
            await _respond(send, 200, {"status": "ok"})

    async def _readyz(self, send: Send) -> None:
        if self._serving and self.upstream.is_ready and not self._shutting_down:
            info = self.upstream.info
            await _respond(
                send,
                200,
                {
                    "status": "ready",
                    "server": info.name if info else None,
                    "version": info.version if info else None,
                },
            )
        else:
            state = "stopping" if self._shutting_down or self.upstream.gone.is_set() else "starting"
            await _respond(send, 503, {"status": state})

    async def _mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        presented = bearer_token(scope)
        if presented is None or not tokens_match(presented, self._token):
            await _respond(
                send,
                401,
                {"error": "unauthorized", "error_description": "a valid bridge token is required"},
                [(b"www-authenticate", b'Bearer realm="mcpod-bridge"')],
            )
            return
        if not (self._serving and self.upstream.is_ready):
            state = "is not running" if self.upstream.gone.is_set() else "is still starting"
            await _respond(
                send,
                503,
                _jsonrpc_error(-32000, f"the Azure DevOps MCP server of this connection {state}"),
                [(b"retry-after", b"1")],
            )
            return
        if scope["method"] == "GET":
            # No server-initiated messages flow through the bridge, so there is no stream to
            # open; the spec lets a server answer 405 here.
            await _respond(
                send,
                405,
                _jsonrpc_error(-32600, "this server offers no event stream; use POST"),
                [(b"allow", b"POST, DELETE")],
            )
            return
        if scope["method"] == "POST":
            body = await self._read_limited(receive, send)
            if body is None:
                return
            headers = _plain_headers(scope)
            call = plan_fast_tool_call(body, headers) if headers is not None else None
            if call is not None:
                answer = await self.bridge.forward_call(call)
                if answer is not None:
                    await _send_json(send, 200, answer)
                    return
            receive = _replay(body, receive)
        await self.sessions.handle_request(scope, receive, send)

    async def _read_limited(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None after answering 413 (or when the client went away)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body = message.get("body", b"")
            size += len(body)
            if size > self._max_body:
                await _respond(
                    send,
                    413,
                    _jsonrpc_error(-32600, f"request body larger than {self._max_body} bytes"),
                )
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            async with self._running():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
                self._shutting_down = True
        except Exception as exc:
            logger.exception("bridge lifespan failed")
            await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        async with self.sessions.run(), anyio.create_task_group() as tg:
            tg.start_soon(self.upstream.run)
            tg.start_soon(self._adopt_when_ready)
            tg.start_soon(self._exit_when_gone)
            try:
                yield
            finally:
                self._shutting_down = True
                await self.upstream.stop()
                tg.cancel_scope.cancel()

    async def _adopt_when_ready(self) -> None:
        await self.upstream.ready.wait()
        self.bridge.adopt_upstream_identity()
        self._serving = True

    async def _exit_when_gone(self) -> None:
        await self.upstream.gone.wait()
        if self._shutting_down:
            return
        self.failed = True
        logger.error(
            "%s; exiting in %gs so the container is restarted",
            self.upstream.failure or "the upstream process is gone",
            EXIT_LINGER_SECONDS,
        )
        await anyio.sleep(EXIT_LINGER_SECONDS)
        self._request_exit()
