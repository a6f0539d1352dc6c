"""Runs `mcpod-bridge` as a real process (with the fake or the real upstream) for tests."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[3]
FAKE_UPSTREAM = REPO / "tests" / "fakes" / "fake_upstream.py"
FAKE_COMMAND = f"{sys.executable} {FAKE_UPSTREAM}"
REAL_UPSTREAM_ENTRY = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "mcpod/upstream/node_modules/@azure-devops/mcp/dist/index.js"
)
# A value that must never show up anywhere but the child's env (and then only base64-encoded).
PAT_SENTINEL = "patSENTINEL7q3xZ9wLk2"
BRIDGE_TOKEN = "bridge-token-for-tests-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningBridge:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str]
    scratch: Path
    pid_file: Path
    _http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.url, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> httpx.Response:
        return self._http.get(path)

    def post(
        self,
        body: bytes | str,
        *,
        token: str | None = BRIDGE_TOKEN,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if token is not None:
            h["authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return self._http.post("/mcp", content=body, headers=h)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bridge exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if self.get("/readyz").status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"bridge not ready within {timeout}s:\n{self.log()}")

    def upstream_pid(self) -> int:
        """The bridge's one child process (the upstream)."""
        children = self.child_pids()
        assert len(children) == 1, f"expected one upstream process, found {children}"
        return children[0]

    def child_pids(self) -> list[int]:
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except FileNotFoundError:
            return []
        return [int(p) for p in text.split()]

    @contextlib.asynccontextmanager
    async def client(self, mode: str, token: str = BRIDGE_TOKEN) -> AsyncIterator[Client]:
        """An MCP SDK client on this bridge in `mode` (legacy, auto or 2026-07-28)."""
        async with httpx2.AsyncClient(
            headers={"authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            transport = streamable_http_client(self.mcp_url, http_client=http)
            async with Client(transport, mode=mode) as client:
                yield client

    def stop(self) -> int:
        self._http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class BridgeFactory:
    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._running: list[RunningBridge] = []
        self._count = 0

    def start(
        self,
        *,
        wait: bool = True,
        upstream: str = "fake",
        **overrides: str,
    ) -> RunningBridge:
        """Start a bridge; `overrides` are env vars (MCPOD_* or FAKE_UPSTREAM_*)."""
        self._count += 1
        port = free_port()
        scratch = self._tmp / f"scratch{self._count}"
        pid_file = self._tmp / f"upstream{self._count}.pid"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "MCPOD_ORGANIZATION": "contoso",
            "MCPOD_PAT": PAT_SENTINEL,
            "MCPOD_BRIDGE_TOKEN": BRIDGE_TOKEN,
            "MCPOD_LISTEN": f"127.0.0.1:{port}",
            "MCPOD_SCRATCH_DIR": str(scratch),
        }
        env.update({k: v for k, v in overrides.items() if not k.startswith("FAKE_UPSTREAM_")})
        if upstream == "fake":
            # The bridge hands its child only the env the upstream needs, so the fake's
            # switches travel in the command line, through env(1).
            switches = {"FAKE_UPSTREAM_PID_FILE": str(pid_file)}
            switches.update({k: v for k, v in overrides.items() if k.startswith("FAKE_UPSTREAM_")})
            assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in switches.items())
            env.setdefault("MCPOD_UPSTREAM_COMMAND", f"env {assignments} {FAKE_COMMAND}")
        log_path = self._tmp / f"bridge{self._count}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mcpod_bridge.cli"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._tmp,
            )
        bridge = RunningBridge(process, port, log_path, env, scratch, pid_file)
        self._running.append(bridge)
        if wait:
            bridge.wait_ready()
        return bridge

    def close(self) -> None:
        for bridge in self._running:
            bridge.stop()
