"""Running one pod's containers as local processes, with restarts and probes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from ..processes import signal_group, spawn, stop_process
from .podspec import ContainerConfigError, ContainerSnapshot
from .probes import run_probe

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


Prepare = Callable[[], Awaitable[Launch]]


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    cap: float = 20.0
    # A container that ran this long without failing starts from the base again.
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.base * 2.0 ** max(failures - 1, 0), self.cap)


class ContainerRunner:
    """One container: start, probe, restart per policy, stop gracefully."""

    def __init__(
        self,
        *,
        spec: Mapping[str, Any],
        pod_ip: str,
        restart_policy: str,
        prepare: Prepare,
        log_path: Path,
        grace: float,
        backoff: Backoff,
        changed: Callable[[], None],
        http: httpx.AsyncClient,
        run_to_completion: bool = False,
    ) -> None:
        self.spec = spec
        self.pod_ip = pod_ip
        self.restart_policy = restart_policy
        self.prepare = prepare
        self.log_path = log_path
        self.grace = grace
        self.backoff = backoff
        self.changed = changed
        self.http = http
        self.run_to_completion = run_to_completion
        self.snapshot = ContainerSnapshot(name=spec["name"], image=spec.get("image", ""))
        self.proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._env: dict[str, str] = {}

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _set(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.snapshot, key, value)
        self.changed()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def run(self) -> int | None:
        """Run until stopped, or until the restart policy says the container is done."""
        failures = 0
        exit_code: int | None = None
        while not self.stopping:
            try:
                launch = await self.prepare()
            except ContainerConfigError as exc:
                self._set(state={"waiting": {"reason": exc.reason, "message": str(exc)}})
                failures += 1
                await self._sleep_unless_stopping(self.backoff.delay(failures))
                continue
            except Exception as exc:  # an API hiccup must not kill the pod's worker
                log.warning("preparing container %s: %r", self.snapshot.name, exc, exc_info=True)
                self._set(
                    state={"waiting": {"reason": "CreateContainerError", "message": str(exc)}}
                )
                failures += 1
                await self._sleep_unless_stopping(self.backoff.delay(failures))
                continue
            self._env = launch.env
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            handle: IO[bytes] = self.log_path.open("ab")
            started_at = now_rfc3339()
            t_start = time.monotonic()
            try:
                self.proc = await spawn(launch.argv, env=launch.env, log=handle, cwd=launch.cwd)
            except OSError as exc:
                handle.close()
                self._set(state={"waiting": {"reason": "RunContainerError", "message": str(exc)}})
                failures += 1
                await self._sleep_unless_stopping(self.backoff.delay(failures))
                continue
            self._set(
                state={"running": {"startedAt": started_at}},
                started=True,
                ready=False,
                container_id=f"process://{self.proc.pid}",
            )
            probes = asyncio.create_task(self._probe(self.proc))
            exit_code = await self.proc.wait()
            probes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probes
            handle.close()
            terminated = {
                "exitCode": exit_code if exit_code >= 0 else 128 - exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": started_at,
                "finishedAt": now_rfc3339(),
            }
            self._set(state={"terminated": terminated}, ready=False, started=False)
            if self.stopping or not self._should_restart(exit_code):
                break
            if time.monotonic() - t_start > self.backoff.reset_after:
                failures = 0
            failures += 1
            delay = self.backoff.delay(failures)
            self._set(
                last_state={"terminated": terminated},
                restart_count=self.snapshot.restart_count + 1,
                state={
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off {delay:g}s restarting failed container="
                        f"{self.snapshot.name}",
                    }
                },
            )
            await self._sleep_unless_stopping(delay)
        return exit_code

    def _should_restart(self, exit_code: int) -> bool:
        if self.run_to_completion:
            return exit_code != 0 and self.restart_policy != "Never"
        if self.restart_policy == "Always":
            return True
        return self.restart_policy == "OnFailure" and exit_code != 0

    async def _probe(self, proc: asyncio.subprocess.Process) -> None:
        readiness = self.spec.get("readinessProbe")
        liveness = self.spec.get("livenessProbe")
        startup = self.spec.get("startupProbe")
        if startup and not await self._until_started(startup, proc):
            return
        if not startup:
            self._set(started=True)
        tasks = []
        if readiness:
            tasks.append(asyncio.create_task(self._readiness(readiness)))
        else:
            self._set(ready=True)
        if liveness:
            tasks.append(asyncio.create_task(self._liveness(liveness, proc)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def _check(self, probe: Mapping[str, Any]) -> bool:
        return await run_probe(
            probe, pod_ip=self.pod_ip, container=self.spec, env=self._env, http=self.http
        )

    async def _until_started(
        self, probe: Mapping[str, Any], proc: asyncio.subprocess.Process
    ) -> bool:
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        failures = 0
        while True:
            if await self._check(probe):
                self._set(started=True)
                return True
            failures += 1
            if failures >= int(probe.get("failureThreshold", 3)):
                await self._kill(proc, "startup probe failed")
                return False
            await asyncio.sleep(float(probe.get("periodSeconds", 10)))

    async def _readiness(self, probe: Mapping[str, Any]) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        ok_run = fail_run = 0
        while True:
            if await self._check(probe):
                ok_run, fail_run = ok_run + 1, 0
                if ok_run >= int(probe.get("successThreshold", 1)) and not self.snapshot.ready:
                    self._set(ready=True)
            else:
                ok_run, fail_run = 0, fail_run + 1
                if fail_run >= int(probe.get("failureThreshold", 3)) and self.snapshot.ready:
                    self._set(ready=False)
            await asyncio.sleep(float(probe.get("periodSeconds", 10)))

    async def _liveness(self, probe: Mapping[str, Any], proc: asyncio.subprocess.Process) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        failures = 0
        while True:
            if await self._check(probe):
                failures = 0
            else:
                failures += 1
                if failures >= int(probe.get("failureThreshold", 3)):
                    await self._kill(proc, "liveness probe failed")
                    return
            await asyncio.sleep(float(probe.get("periodSeconds", 10)))

    async def _kill(self, proc: asyncio.subprocess.Process, why: str) -> None:
        log.info("container %s: %s, restarting", self.snapshot.name, why)
        await stop_process(proc, self.grace)

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self.proc is not None and self.proc.returncode is None:
            await stop_process(self.proc, grace)
        elif self.proc is not None:
            signal_group(self.proc.pid, signal.SIGKILL)
