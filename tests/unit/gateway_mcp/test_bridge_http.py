"""The gateway's HTTP/1.1 client to bridges, against small servers on loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from mcpod_gateway.mcp.bridge_http import BridgeHttp, BridgeHttpError, Target

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].encode(), headers, body


def reply(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on 127.0.0.1; yields its /mcp URL and the count of connections accepted."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp", accepted
    finally:
        srv.close()


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        line, headers, _ = await read_request(reader)
        answer = b'{"line":"' + line + b'","auth":"' + headers["authorization"].encode() + b'"}'
        writer.write(reply(answer))
        await writer.drain()


async def test_posts_the_body_with_headers_and_reuses_the_connection() -> None:
    http = BridgeHttp()
    async with server(echo_forever) as (url, accepted):
        for _ in range(3):
            status, body = await http.post(
                url, {"authorization": "Bearer t"}, b"{}", time_limit=5, connect_limit=5
            )
            assert status == 200
            assert body == b'{"line":"POST /mcp HTTP/1.1","auth":"Bearer t"}'
        assert len(accepted) == 1  # kept alive
    http.close()


async def test_concurrent_requests_use_separate_connections() -> None:
    http = BridgeHttp()
    async with server(echo_forever) as (url, accepted):
        results = await asyncio.gather(
            *(
                http.post(url, {"authorization": "x"}, b"1", time_limit=5, connect_limit=5)
                for _ in range(10)
            )
        )
        assert [status for status, _ in results] == [200] * 10
        assert len(accepted) == 10
        await http.post(url, {"authorization": "x"}, b"1", time_limit=5, connect_limit=5)
        assert len(accepted) == 10  # one of the ten idle ones was reused
    http.close()


async def test_connection_close_from_the_bridge_is_not_reused() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply(b"{}", extra="connection: close\r\n"))
        await writer.drain()

    http = BridgeHttp()
    async with server(once) as (url, accepted):
        for _ in range(2):
            assert await http.post(url, {}, b"{}", time_limit=5, connect_limit=5) == (200, b"{}")
        assert len(accepted) == 2
        assert http._idle == {}  # nothing kept for an address without idle connections
    http.close()


async def test_chunked_answers_and_error_statuses_are_read_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n"
            b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
        )
        await writer.drain()

    http = BridgeHttp()
    async with server(chunked) as (url, _):
        assert await http.post(url, {}, b"{}", time_limit=5, connect_limit=5) == (503, b'{"a":1}')
    http.close()


async def test_a_silent_bridge_times_out_and_its_connection_is_dropped() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    http = BridgeHttp()
    async with server(silent) as (url, accepted):
        with pytest.raises(TimeoutError):
            await http.post(url, {}, b"{}", time_limit=0.2, connect_limit=5)
        with pytest.raises(TimeoutError):
            await http.post(url, {}, b"{}", time_limit=0.2, connect_limit=5)
        assert len(accepted) == 2  # the timed-out connection was not reused
    http.close()


async def test_a_bridge_that_hangs_up_mid_answer_is_an_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial')
        await writer.drain()

    http = BridgeHttp()
    async with server(hang_up) as (url, _):
        with pytest.raises(BridgeHttpError, match="closed the connection"):
            await http.post(url, {}, b"{}", time_limit=5, connect_limit=5)
    http.close()


async def test_garbage_instead_of_http_is_an_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    http = BridgeHttp()
    async with server(garbage) as (url, _):
        with pytest.raises(BridgeHttpError, match="invalid HTTP"):
            await http.post(url, {}, b"{}", time_limit=5, connect_limit=5)
    http.close()


async def test_nothing_listening_is_an_error() -> None:
    async with server(echo_forever) as (url, _):
        pass  # closed again: the port is free
    with pytest.raises(BridgeHttpError, match="cannot connect"):
        await BridgeHttp().post(url, {}, b"{}", time_limit=5, connect_limit=5)


async def test_a_stale_idle_connection_is_replaced() -> None:
    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply(b"{}"))
        await writer.drain()
        # ...then closes while the client keeps the connection idle.

    http = BridgeHttp()
    async with server(one_answer) as (url, accepted):
        assert await http.post(url, {}, b"{}", time_limit=5, connect_limit=5) == (200, b"{}")
        await asyncio.sleep(0.1)  # the close reaches the client
        assert await http.post(url, {}, b"{}", time_limit=5, connect_limit=5) == (200, b"{}")
        assert len(accepted) == 2
    http.close()


async def test_a_cancelled_call_closes_its_connection() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.3)
            writer.write(reply(b"{}"))
            await writer.drain()

    http = BridgeHttp()
    async with server(slow) as (url, accepted):
        call = asyncio.create_task(http.post(url, {}, b"{}", time_limit=5, connect_limit=5))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await http.post(url, {}, b"{}", time_limit=5, connect_limit=5) == (200, b"{}")
        assert len(accepted) == 2  # the first answer would have belonged to the cancelled call
    http.close()


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:1/mcp", "http://127.0.0.1/mcp", "127.0.0.1:80", "http://:80/x"]
)
def test_bridge_urls_must_be_plain_http_with_a_port(url: str) -> None:
    with pytest.raises(ValueError, match="http://host:port/path"):
        Target.parse(url)


def test_target_keeps_the_address_and_path() -> None:
    target = Target.parse("http://127.0.0.5:8080/mcp")
    assert (target.host, target.port, target.path, target.host_header) == (
        "127.0.0.5",
        8080,
        b"/mcp",
        b"127.0.0.5:8080",
    )


async def test_a_header_value_cannot_split_the_request() -> None:
    http = BridgeHttp()
    async with server(echo_forever) as (url, accepted):
        with pytest.raises(ValueError, match="line break"):
            await http.post(
                url, {"mcp-name": "x\r\nx-injected: 1"}, b"{}", time_limit=5, connect_limit=5
            )
        assert accepted == []
