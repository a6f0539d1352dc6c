"""The one upstream process per bridge and the single stdio MCP session all requests share.

The SDK's `stdio_client` spawns and hides the process, but the bridge needs it: it is started
before the SDK is even imported (see `spawn`), its exit is what turns `/healthz` red, and its
stderr must be redacted before it reaches the pod log.  So the process and its pipes are owned
here and wired into the SDK's `JSONRPCDispatcher` + `ClientSession`, which do the JSON-RPC
correlation (many requests in flight at once on one session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

import anyio
import anyio.to_thread
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.session import ClientSession, IncomingMessage
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import SessionMessage
from mcp_types import CONNECTION_CLOSED

from mcpod_bridge import __version__
from mcpod_bridge.redaction import Redactor

logger = logging.getLogger("mcpod.bridge.upstream")
upstream_log = logging.getLogger("mcpod.bridge.upstream.stderr")

# How long the child gets to exit after its stdin closes, then after SIGTERM.
_EXIT_GRACE = 2.0
_STDERR_LINE_LIMIT = 4000
_LINE_LIMIT = 64 * 1024 * 1024


@dataclass(slots=True)
class UpstreamInfo:
    """What the upstream said about itself in `initialize`."""

    name: str
    version: str
    instructions: str | None
    protocol_version: str


class _ObservedDispatcher(JSONRPCDispatcher[Any]):
    """Tells when its read loop has ended, i.e. every line the child wrote has been delivered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.finished = anyio.Event()

    async def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().run(*args, **kwargs)
        finally:
            self.finished.set()


class UpstreamGoneError(Exception):
    """The upstream process has exited; no request can be served any more."""


class Upstream:
    """Runs the child and its session; use `run()` in a task group and await `ready`."""

    def __init__(
        self, process: subprocess.Popen[bytes], redact: Redactor, startup_timeout: float
    ) -> None:
        self._process = process
        self._redact = redact
        self._startup_timeout = startup_timeout
        self._exited = anyio.Event()
        self._dispatcher: JSONRPCDispatcher[Any] | None = None
        self._session: ClientSession | None = None
        self._tools: list[dict[str, Any]] | None = None
        self._tools_lock = anyio.Lock()
        self.info: UpstreamInfo | None = None
        self.ready = anyio.Event()
        self.gone = anyio.Event()
        self.exit_code: int | None = None
        self.failure: str | None = None
        self._stopping = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set() and not self.gone.is_set()

    async def run(self) -> None:
        """Initialize, then serve until the child exits or `stop()`; `gone` is set either way."""
        try:
            await self._run()
        except Exception as exc:
            leaf = _leaf(exc)
            if isinstance(leaf, TimeoutError):
                text = f"the upstream did not answer initialize within {self._startup_timeout:g}s"
            elif isinstance(leaf, UpstreamGoneError):
                text = str(leaf)
            else:
                text = f"{type(leaf).__name__}: {leaf}"
            self.failure = self._redact(text)
            logger.error("upstream failed: %s", self.failure)
        finally:
            self.gone.set()

    async def _run(self) -> None:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        loop = asyncio.get_running_loop()
        stdout = await _pipe_reader(loop, process.stdout)
        stderr = await _pipe_reader(loop, process.stderr)
        stdin = await _pipe_writer(loop, process.stdin)
        to_session, session_in = anyio.create_memory_object_stream[SessionMessage | Exception](
            math.inf
        )
        session_out, to_child = anyio.create_memory_object_stream[SessionMessage](math.inf)
        dispatcher = _ObservedDispatcher(session_in, session_out)
        session = ClientSession(
            dispatcher=dispatcher,
            client_info=types.Implementation(name="mcpod-bridge", version=__version__),
            message_handler=self._on_message,
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_exit)
            tg.start_soon(self._pump_stdout, stdout, to_session)
            tg.start_soon(self._pump_stdin, stdin, to_child)
            tg.start_soon(self._pump_stderr, stderr)
            async with session:
                self._dispatcher = dispatcher
                self._session = session
                with anyio.fail_after(self._startup_timeout):
                    result = await self._initialize(session)
                self.info = UpstreamInfo(
                    name=result.server_info.name,
                    version=result.server_info.version,
                    instructions=result.instructions,
                    protocol_version=result.protocol_version,
                )
                logger.info(
                    "upstream ready: %s %s (protocol %s)",
                    self.info.name,
                    self.info.version,
                    self.info.protocol_version,
                )
                self.ready.set()
                await self._exited.wait()
                # Answers the child wrote just before exiting still reach their callers.
                with anyio.move_on_after(_EXIT_GRACE):
                    await dispatcher.finished.wait()
            tg.cancel_scope.cancel()
        if not self._stopping:
            self.failure = f"the upstream process exited with code {self.exit_code}"
            logger.error("%s", self.failure)

    async def _initialize(self, session: ClientSession) -> types.InitializeResult:
        """`initialize`; if the child dies instead of answering, say so with its exit code."""
        try:
            return await session.initialize()
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise
            with anyio.move_on_after(_EXIT_GRACE):
                await self._exited.wait()
            raise UpstreamGoneError(
                f"the upstream process exited with code {self.exit_code} during startup"
            ) from None

    async def _watch_exit(self) -> None:
        # A thread parked in waitpid: no polling, and no dependence on the event loop's
        # child watcher (the process was spawned before the loop existed).
        self.exit_code = await anyio.to_thread.run_sync(self._process.wait, abandon_on_cancel=True)
        self._exited.set()

    async def _pump_stdout(
        self, stdout: asyncio.StreamReader, out: MemoryObjectSendStream[SessionMessage | Exception]
    ) -> None:
        async with out:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                while line := await stdout.readline():
                    if line.strip():
                        await out.send(_parse_line(line, self._redact))

    async def _pump_stdin(
        self, stdin: asyncio.StreamWriter, source: MemoryObjectReceiveStream[SessionMessage]
    ) -> None:
        async with source:
            # A child that died early leaves a closed pipe: uvloop says so with RuntimeError.
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                async for message in source:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    stdin.write(data.encode() + b"\n")
                    await stdin.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            stdin.close()

    async def _pump_stderr(self, stderr: asyncio.StreamReader) -> None:
        """Forward the child's log lines into ours, redacted and bounded in length."""
        while line := await stderr.readline():
            self._log_stderr(line)

    def _log_stderr(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()
        if text:
            upstream_log.info("%s", self._redact(text)[:_STDERR_LINE_LIMIT])

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._tools = None
        elif isinstance(message, Exception):
            logger.warning("upstream sent an unreadable message: %s", self._redact(str(message)))

    async def request(
        self, method: str, params: Mapping[str, Any] | None, time_limit: float
    ) -> dict[str, Any]:
        """Forward one request on the shared session; raises MCPError as the SDK does."""
        if self._dispatcher is None or not self.is_ready:
            raise UpstreamGoneError("the upstream is not running")
        return await self._dispatcher.send_raw_request(method, params, {"timeout": time_limit})

    async def list_tools(self, time_limit: float) -> list[dict[str, Any]]:
        """The upstream's whole catalogue, fetched once and kept until it says it changed."""
        async with self._tools_lock:
            if self._tools is None:
                tools: list[dict[str, Any]] = []
                cursor: str | None = None
                while True:
                    params = {"cursor": cursor} if cursor else None
                    page = await self.request("tools/list", params, time_limit)
                    tools.extend(page.get("tools") or [])
                    cursor = page.get("nextCursor")
                    if not isinstance(cursor, str) or not cursor:
                        break
                self._tools = tools
            return self._tools

    async def stop(self) -> None:
        """Close stdin (the upstream exits on EOF), then SIGTERM, then SIGKILL."""
        self._stopping = True
        process = self._process
        if process.poll() is not None:
            return
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(sig)
                with anyio.move_on_after(_EXIT_GRACE):
                    # Polled: the exit watcher is not running if startup failed early.
                    while process.poll() is None:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                    return


async def _pipe_reader(loop: asyncio.AbstractEventLoop, pipe: IO[bytes]) -> asyncio.StreamReader:
    # One JSON-RPC message per line; the full catalogue is ~73 KB on one line.
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return reader


async def _pipe_writer(loop: asyncio.AbstractEventLoop, pipe: IO[bytes]) -> asyncio.StreamWriter:
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _parse_line(line: bytes, redact: Redactor) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return ValueError(redact(f"unparseable line from the upstream: {exc}"[:500]))
