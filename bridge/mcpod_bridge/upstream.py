"""The one upstream process per bridge and the single stdio MCP session all requests share.

The SDK's `stdio_client` hides the process, but the bridge needs it: its exit is what turns
`/healthz` red, its stderr must be redacted before it reaches the pod log, and the benchmark
reads its pid.  So the process and its pipes are owned here and wired into the SDK's
`JSONRPCDispatcher` + `ClientSession`, which do the JSON-RPC correlation (many requests in
flight at once on one session).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
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


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: str


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

    def __init__(self, spec: UpstreamSpec, redact: Redactor, startup_timeout: float) -> None:
        self._spec = spec
        self._redact = redact
        self._startup_timeout = startup_timeout
        self._process: anyio.abc.Process | None = None
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
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set() and not self.gone.is_set()

    async def run(self, on_gone: Callable[[], None]) -> None:
        """Spawn, initialize, serve until the child exits or `stop()`; then call `on_gone`."""
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
            if not self._stopping:
                on_gone()

    async def _run(self) -> None:
        process = await anyio.open_process(
            self._spec.argv,
            env=self._spec.env,
            cwd=self._spec.cwd,
            start_new_session=True,
        )
        self._process = process
        logger.info("upstream started (pid %d): %s", process.pid, " ".join(self._spec.argv))
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
            tg.start_soon(self._pump_stdout, process, to_session)
            tg.start_soon(self._pump_stdin, process, to_child)
            tg.start_soon(self._pump_stderr, process)
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
                self.exit_code = await process.wait()
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
            if exc.code != CONNECTION_CLOSED or self._process is None:
                raise
            with anyio.move_on_after(_EXIT_GRACE):
                self.exit_code = await self._process.wait()
            raise UpstreamGoneError(
                f"the upstream process exited with code {self.exit_code} during startup"
            ) from None

    async def _pump_stdout(
        self, process: anyio.abc.Process, out: MemoryObjectSendStream[SessionMessage | Exception]
    ) -> None:
        assert process.stdout is not None
        buffer = b""
        async with out:
            with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError, OSError):
                async for chunk in process.stdout:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            await out.send(_parse_line(line, self._redact))

    async def _pump_stdin(
        self, process: anyio.abc.Process, source: MemoryObjectReceiveStream[SessionMessage]
    ) -> None:
        assert process.stdin is not None
        async with source:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                async for message in source:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode() + b"\n")

    async def _pump_stderr(self, process: anyio.abc.Process) -> None:
        """Forward the child's log lines into ours, redacted and bounded in length."""
        assert process.stderr is not None
        buffer = b""
        with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError, OSError):
            async for chunk in process.stderr:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._log_stderr(line)
        if buffer:
            self._log_stderr(buffer)

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
        if process is None or process.returncode is not None:
            return
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError):
                    await process.stdin.aclose()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(sig)
                with anyio.move_on_after(_EXIT_GRACE):
                    await process.wait()
                    return


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


@contextlib.asynccontextmanager
async def running_upstream(
    upstream: Upstream, on_gone: Callable[[], None]
) -> AsyncIterator[Upstream]:
    """Run the upstream in the background for the duration of the block, then stop it."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(upstream.run, on_gone)
        try:
            yield upstream
        finally:
            await upstream.stop()
            tg.cancel_scope.cancel()
