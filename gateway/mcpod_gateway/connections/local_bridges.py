"""Bridge subprocesses for the local backend: one ``mcpod-bridge`` per connection.

Each listens on its own loopback port with its own token.  The PAT reaches the
child only through its environment (never argv, never a file).  A bridge that
exits while it is still wanted is restarted with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

log = logging.getLogger(__name__)

STARTUP_TIMEOUT: Final = 60.0
STOP_GRACE: Final = 5.0
BACKOFF_FIRST: Final = 1.0
BACKOFF_MAX: Final = 60.0
# A bridge that stayed up this long counts as healthy again: the next crash starts the
# backoff from the beginning.
HEALTHY_AFTER: Final = 60.0
# Environment the child inherits from the gateway; everything else is left out (the
# gateway's own keys and database URL must never reach a bridge).
INHERITED_ENV: Final = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "NODE_EXTRA_CA_CERTS",
    "MCPOD_UPSTREAM_COMMAND",
    "MCPOD_UPSTREAM_DIR",
    "MCPOD_CALL_TIMEOUT",
    "MCPOD_STARTUP_TIMEOUT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
)


@dataclass(frozen=True)
class BridgeLaunch:
    """Everything needed to start one bridge (the PAT only in ``secret_env``)."""

    name: str
    env: Mapping[str, str]
    secret_env: Mapping[str, str] = field(repr=False)


@dataclass
class RunningBridge:
    name: str
    port: int
    token: str = field(repr=False)
    process: asyncio.subprocess.Process | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = field(default_factory=time.monotonic)
    stopping: bool = False
    failure: str = ""
    restarts: int = 0
    supervisor: asyncio.Task[None] | None = None
    spawning: asyncio.Future[asyncio.subprocess.Process] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bridge_command() -> list[str]:
    return [sys.executable, "-m", "mcpod_bridge.cli"]


def child_env(launch: BridgeLaunch, port: int, extra_names: tuple[str, ...]) -> dict[str, str]:
    inherited = {k: os.environ[k] for k in (*INHERITED_ENV, *extra_names) if k in os.environ}
    return {
        **inherited,
        **launch.env,
        "MCPOD_LISTEN": f"127.0.0.1:{port}",
        **launch.secret_env,
    }


class BridgeSupervisor:
    """Starts, watches, restarts and stops the bridges of this gateway process."""

    def __init__(
        self,
        *,
        log_dir: Path,
        extra_env_names: tuple[str, ...] = (),
        on_ready: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._log_dir = log_dir
        self._extra_env = extra_env_names
        self._bridges: dict[str, RunningBridge] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._on_ready = on_ready
        self._http = httpx.AsyncClient(timeout=2.0)
        self._closed = False
        # Every child ever started and not yet reaped: close() ends any that a race left.
        self._spawned: set[asyncio.subprocess.Process] = set()

    def get(self, name: str) -> RunningBridge | None:
        return self._bridges.get(name)

    def names(self) -> list[str]:
        return list(self._bridges)

    async def ensure_running(
        self, name: str, token: str, launch: Callable[[], Awaitable[BridgeLaunch]]
    ) -> RunningBridge:
        """Start the bridge unless it runs (or is starting); ``launch`` decrypts only then."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            bridge = self._bridges.get(name)
            if bridge is not None and not bridge.stopping:
                return bridge
            if self._closed:
                raise RuntimeError("the gateway is shutting down")
            bridge = RunningBridge(name=name, port=free_loopback_port(), token=token)
            self._bridges[name] = bridge
            spec = await launch()
            bridge.supervisor = asyncio.create_task(self._supervise(bridge, spec))
            return bridge

    async def stop(self, name: str) -> None:
        bridge = self._bridges.pop(name, None)
        if bridge is None:
            return
        bridge.stopping = True
        if bridge.supervisor is not None:
            bridge.supervisor.cancel()
            # wait(), not await: the caller's own cancellation must not be swallowed here.
            await asyncio.wait([bridge.supervisor])
        if bridge.spawning is not None:
            await asyncio.wait([bridge.spawning])
        await _terminate(bridge.process)

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(self.stop(n) for n in list(self._bridges)))
        await asyncio.gather(*(_terminate(p) for p in list(self._spawned)))
        self._spawned.clear()
        await self._http.aclose()

    async def _supervise(self, bridge: RunningBridge, spec: BridgeLaunch) -> None:
        backoff = BACKOFF_FIRST
        while not bridge.stopping:
            started = time.monotonic()
            try:
                await self._run_once(bridge, spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed start is reported and retried like a crash
                bridge.failure = f"the bridge could not start: {type(exc).__name__}"
                log.warning("bridge %s: %s", bridge.name, bridge.failure)
            if bridge.stopping:
                return
            if time.monotonic() - started > HEALTHY_AFTER:
                backoff = BACKOFF_FIRST
            bridge.restarts += 1
            log.warning(
                "bridge %s exited (%s); restarting in %.0fs",
                bridge.name,
                bridge.failure or "no reason given",
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            bridge.port = free_loopback_port()

    async def _run_once(self, bridge: RunningBridge, spec: BridgeLaunch) -> None:
        bridge.ready.clear()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self._log_dir / f"{bridge.name}.log"
        env = child_env(spec, bridge.port, self._extra_env)

        async def spawn() -> asyncio.subprocess.Process:
            with log_path.open("ab") as out:
                child = await asyncio.create_subprocess_exec(
                    *bridge_command(),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    env=env,
                    start_new_session=True,
                )
            bridge.process = child
            self._spawned.add(child)
            return child

        # Shielded, and remembered: a stop() that lands while the process is being created
        # must still find it and end it, never leave it running.
        bridge.spawning = asyncio.ensure_future(spawn())
        process = await asyncio.shield(bridge.spawning)
        bridge.started_at = time.monotonic()
        try:
            await self._await_ready(bridge, process)
            bridge.failure = ""
            bridge.ready.set()
            if self._on_ready is not None:
                asyncio.create_task(self._on_ready(bridge.name))  # noqa: RUF006 - fire and forget
            code = await process.wait()
            self._spawned.discard(process)
            bridge.failure = f"exit status {code}"
        finally:
            bridge.ready.clear()
            if process.returncode is None:
                await _terminate(process)

    async def _await_ready(
        self, bridge: RunningBridge, process: asyncio.subprocess.Process
    ) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = f"http://127.0.0.1:{bridge.port}/readyz"
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"exited with status {process.returncode} during start")
            with contextlib.suppress(httpx.HTTPError):
                if (await self._http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise TimeoutError("not ready in time")


async def _terminate(process: asyncio.subprocess.Process | None) -> None:
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
