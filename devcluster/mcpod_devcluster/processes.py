"""Starting child processes that cannot outlive the process that started them.

Every child runs in its own session (so a whole process group can be
signalled) and asks the kernel for SIGKILL when its parent dies, so an
aborted test run or a killed supervisor leaves nothing behind.  Every child
also carries MCPOD_DEVCLUSTER_ID in its environment, which lets a sweep find
strays by reading /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

CLUSTER_ID_ENV = "MCPOD_DEVCLUSTER_ID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this process when its parent exits (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: Path | None = None,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=str(cwd) if cwd else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def stop_process(
    proc: asyncio.subprocess.Process, grace: float, *, group: bool = True
) -> int | None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
    if proc.returncode is None:
        if group:
            signal_group(proc.pid, signal.SIGTERM)
        else:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=max(grace, 0.0))
        except TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    # Reap anything left in the group (children that ignored SIGTERM).
    signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def processes_of_cluster(cluster_id: str) -> list[int]:
    """PIDs whose environment carries this cluster's id (live processes only)."""
    needle = f"{CLUSTER_ID_ENV}={cluster_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Zombies have already exited; only their parent's reaping is missing.
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep(cluster_id: str, *, rounds: int = 100) -> int:
    """SIGKILL every process of the cluster, again until none is left (at most `rounds`)."""
    killed = 0
    for _ in range(rounds):
        strays = processes_of_cluster(cluster_id)
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed
