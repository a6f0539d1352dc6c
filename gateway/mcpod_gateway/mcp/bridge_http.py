"""HTTP/1.1 from the gateway to bridges: kept-alive connections and a C response parser.

The gateway→bridge hop is a fixed, private exchange: a POST with a JSON body of known
length to our own bridge, answered by one JSON response.  A general client (aiohttp)
spent more CPU per call on that hop than all of the gateway's own work on the call,
so this module does only what the hop needs, on asyncio's protocol API with the same
``httptools`` parser uvicorn uses to read requests.  It reuses a connection only after
a complete, keep-alive response, and never retries a request: a call that may have
reached the bridge is not sent twice.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

import httptools

# Idle connections are dropped before the bridge's own keep-alive timeout (uvicorn's
# 5 s default) can close them under a request.
IDLE_SECONDS: Final = 4.0
MAX_IDLE_PER_BRIDGE: Final = 64
MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024
_UNSAFE: Final = re.compile(r"[\r\n\0]")


class BridgeHttpError(Exception):
    """The bridge could not be reached, or its answer was not valid HTTP."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: bytes
    host_header: bytes

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"a bridge URL is http://host:port/path, not {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port,
            path=(parts.path or "/").encode("ascii"),
            host_header=parts.netloc.encode("ascii"),
        )


class _Connection(asyncio.Protocol):
    """One TCP connection to a bridge; at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.reusable = False
        self.idle_since = 0.0

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has the Transport methods without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BridgeHttpError(f"invalid HTTP from the bridge: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(BridgeHttpError("the bridge closed the connection"))

    # ---- httptools callbacks ----

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > MAX_RESPONSE_BYTES:
            self._fail(BridgeHttpError("the bridge's answer is too large"))
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.reusable = self.parser.should_keep_alive()
        waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    # ---- use ----

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self.transport is None:
            raise BridgeHttpError("the bridge closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        self.body = []
        self.size = 0
        self.reusable = False
        self.transport.write(request)
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def _fail(self, error: Exception) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.close()


class BridgeHttp:
    """A pool of kept-alive connections per bridge address."""

    def __init__(self) -> None:
        # Only addresses with idle connections have an entry: pods come and go with new IPs.
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        time_limit: float,
        connect_limit: float,
    ) -> tuple[int, bytes]:
        """POST ``body``; the status and the whole response body.

        Raises ``TimeoutError`` past ``time_limit`` and :class:`BridgeHttpError` when the
        bridge cannot be reached or answers with something that is not HTTP.
        """
        target = Target.parse(url)
        lines = [
            b"POST " + target.path + b" HTTP/1.1",
            b"host: " + target.host_header,
            b"content-length: " + str(len(body)).encode("ascii"),
        ]
        for name, value in headers.items():
            line = f"{name}: {value}"
            if _UNSAFE.search(line):
                # Never let a value (a tool name an agent chose) split the request.
                raise ValueError(f"header {name!r} holds a line break or NUL")
            lines.append(line.encode("latin-1"))
        request = b"\r\n".join(lines) + b"\r\n\r\n" + body
        async with asyncio.timeout(time_limit):
            connection = await self._acquire(target, connect_limit)
            try:
                status, payload = await connection.send(request)
            except BaseException:
                connection.close()  # state unknown (cancelled, timed out, broken)
                raise
        self._release(target, connection)
        return status, payload

    async def _acquire(self, target: Target, connect_limit: float) -> _Connection:
        address = (target.host, target.port)
        idle = self._idle.get(address)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not idle:
                del self._idle[address]
            if connection.open and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_limit):
                _, protocol = await loop.create_connection(_Connection, target.host, target.port)
        except OSError as exc:
            raise BridgeHttpError(f"cannot connect to the bridge: {exc.strerror}") from None
        return protocol

    def _release(self, target: Target, connection: _Connection) -> None:
        if not (connection.reusable and connection.open):
            connection.close()
            return
        idle = self._idle.setdefault((target.host, target.port), [])
        if len(idle) >= MAX_IDLE_PER_BRIDGE:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
