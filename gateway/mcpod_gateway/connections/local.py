"""The local backend (the embedded default): connections in the database, bridges as subprocesses.

PATs are stored encrypted (pat_store.py) and decrypted only to start that
connection's bridge.  Idle bridges are stopped after the connection's idle
timeout and started again on the next call, like the operator does with pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, Final

from mcpod_common.bridge_token import derive_bridge_token
from mcpod_common.vocabulary import parse_duration
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import LocalConnection
from ..models.base import utcnow
from .backend import ReadyListener
from .local_bridges import BridgeLaunch, BridgeSupervisor
from .model import (
    BridgeEndpoint,
    ConnectionNotFoundError,
    ConnectionSpec,
    ConnectionView,
    Phase,
    SlugTakenError,
)
from .pat_store import PatCipher

log = logging.getLogger(__name__)

REAP_INTERVAL: Final = 5.0
# Rows read for routing are reused this long; this process's own writes clear it at once,
# another process's (the admin CLI, a second gateway) show within this time.
ROW_CACHE_SECONDS: Final = 1.0
LOCAL_SERVER_VERSION: Final = "local"


def spec_of(row: LocalConnection) -> ConnectionSpec:
    return ConnectionSpec(
        slug=row.slug,
        organization=row.organization,
        domains=tuple(row.domains.split()),
        read_only=row.read_only,
        tools_allow=tuple(p for p in row.tools_allow.split(",") if p),
        tools_deny=tuple(p for p in row.tools_deny.split(",") if p),
        default_project=row.default_project,
        default_team=row.default_team,
        idle_timeout=_idle_text(row.idle_timeout_seconds),
        suspended=row.suspended,
    )


def _idle_text(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def bridge_env(row: LocalConnection) -> dict[str, str]:
    """The bridge's non-secret settings (ARCHITECTURE.md, configuration names)."""
    env = {
        "MCPOD_ORGANIZATION": row.organization,
        "MCPOD_READ_ONLY": "true" if row.read_only else "false",
    }
    if row.domains:
        env["MCPOD_DOMAINS"] = row.domains
    if row.tools_allow:
        env["MCPOD_TOOLS_ALLOW"] = row.tools_allow
    if row.tools_deny:
        env["MCPOD_TOOLS_DENY"] = row.tools_deny
    if row.default_project:
        env["MCPOD_DEFAULT_PROJECT"] = row.default_project
    if row.default_team:
        env["MCPOD_DEFAULT_TEAM"] = row.default_team
    return env


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        cipher: PatCipher,
        routing_key: bytes,
        data_dir: Path,
        default_idle_timeout: str = "10m",
        extra_env_names: tuple[str, ...] = (),
        reap_interval: float = REAP_INTERVAL,
    ) -> None:
        self._db = sessionmaker
        self._cipher = cipher
        self._routing_key = routing_key
        self._default_idle = int(parse_duration(default_idle_timeout))
        self._reap_interval = reap_interval
        self._bridges = BridgeSupervisor(
            log_dir=data_dir / "bridges", extra_env_names=extra_env_names, on_ready=self._ready
        )
        # In-memory activity clock per connection (the database copy is throttled).
        self._activity: dict[str, float] = {}
        self._listeners: list[ReadyListener] = []
        self._reaper: asyncio.Task[None] | None = None
        self._rows: dict[str, tuple[float, list[LocalConnection]]] = {}
        # One database read per owner at a time: when the cached rows expire under load,
        # every concurrent request would otherwise run the same query.
        self._row_loads: dict[str, asyncio.Task[list[LocalConnection]]] = {}

    # ---- lifecycle ----

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.wait([self._reaper])
        await self._bridges.close()

    def add_ready_listener(self, listener: ReadyListener) -> None:
        self._listeners.append(listener)

    # ---- reading ----

    def _view(self, row: LocalConnection) -> ConnectionView:
        bridge = self._bridges.get(row.name)
        if row.suspended:
            phase, message = Phase.SUSPENDED, ""
        elif bridge is None:
            phase, message = Phase.IDLE, ""
        elif bridge.ready.is_set():
            phase, message = Phase.READY, ""
        elif bridge.failure:
            phase, message = Phase.FAILED, bridge.failure
        else:
            phase, message = Phase.STARTING, ""
        return ConnectionView(
            name=row.name,
            uid=row.uid,
            owner=row.owner,
            spec=spec_of(row),
            created=row.created_at,
            phase=phase,
            message=message,
            last_activity=row.last_activity_at,
            server_version=LOCAL_SERVER_VERSION,
        )

    async def _owned_rows(self, owner: str) -> list[LocalConnection]:
        cached = self._rows.get(owner)
        now = time.monotonic()
        if cached is not None and now - cached[0] < ROW_CACHE_SECONDS:
            return cached[1]
        loading = self._row_loads.get(owner)
        if loading is None:
            loading = asyncio.create_task(self._load_rows(owner, now))
            # Read the outcome even if every waiter was cancelled (no "never retrieved").
            loading.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._row_loads[owner] = loading
        # Shielded: a waiter that is cancelled must not cancel the others' read.
        return await asyncio.shield(loading)

    async def _load_rows(self, owner: str, started: float) -> list[LocalConnection]:
        this = asyncio.current_task()
        try:
            async with self._db() as db:
                rows = list(
                    await db.exec(
                        select(LocalConnection)
                        .where(LocalConnection.owner == owner)
                        .order_by(col(LocalConnection.slug))
                    )
                )
        finally:
            current = self._row_loads.get(owner) is this
            if current:
                del self._row_loads[owner]
        if current:  # not forgotten by a write while it ran
            self._rows[owner] = (started, rows)
        return rows

    def _forget_rows(self, owner: str) -> None:
        self._rows.pop(owner, None)
        self._row_loads.pop(owner, None)

    async def list_connections(self, owner: str) -> list[ConnectionView]:
        return [self._view(r) for r in await self._owned_rows(owner)]

    async def _row(self, db: AsyncSession, owner: str, slug: str) -> LocalConnection:
        row = (
            await db.exec(
                select(LocalConnection).where(
                    LocalConnection.owner == owner, LocalConnection.slug == slug
                )
            )
        ).first()
        if row is None:
            raise ConnectionNotFoundError(slug)
        return row

    async def get_connection(self, owner: str, slug: str) -> ConnectionView:
        for row in await self._owned_rows(owner):
            if row.slug == slug:
                return self._view(row)
        raise ConnectionNotFoundError(slug)

    # ---- writing ----

    async def create_connection(self, owner: str, spec: ConnectionSpec, pat: str) -> ConnectionView:
        uid = str(uuid.uuid4())
        row = LocalConnection(
            name=f"{owner}-{spec.slug}-{secrets.token_hex(3)}",
            uid=uid,
            owner=owner,
            pat_ciphertext=self._cipher.encrypt(pat, uid),
            **self._columns(spec),
        )
        self._forget_rows(owner)
        async with self._db() as db:
            db.add(row)
            try:
                await db.commit()
            except IntegrityError:
                raise SlugTakenError(spec.slug) from None
            await db.refresh(row)
            return self._view(row)

    def _columns(self, spec: ConnectionSpec) -> dict[str, Any]:
        return {
            "slug": spec.slug,
            "organization": spec.organization,
            "domains": " ".join(spec.domains),
            "read_only": spec.read_only,
            "tools_allow": ",".join(spec.tools_allow),
            "tools_deny": ",".join(spec.tools_deny),
            "default_project": spec.default_project,
            "default_team": spec.default_team,
            "idle_timeout_seconds": (
                int(parse_duration(spec.idle_timeout)) if spec.idle_timeout else self._default_idle
            ),
            "suspended": spec.suspended,
        }

    async def update_connection(
        self, owner: str, slug: str, spec: ConnectionSpec
    ) -> ConnectionView:
        self._forget_rows(owner)
        async with self._db() as db:
            row = await self._row(db, owner, slug)
            for key, value in self._columns(spec).items():
                if key != "slug":  # immutable, like the CRD's
                    setattr(row, key, value)
            row.updated_at = utcnow()
            db.add(row)
            await db.commit()
            await db.refresh(row)
            name = row.name
            view = self._view(row)
        # New settings mean a new bridge, as the operator replaces a pod.
        await self._bridges.stop(name)
        return self._view_after_stop(view)

    def _view_after_stop(self, view: ConnectionView) -> ConnectionView:
        phase = Phase.SUSPENDED if view.spec.suspended else Phase.IDLE
        return ConnectionView(**{**view.__dict__, "phase": phase, "message": ""})

    async def rotate_pat(self, owner: str, slug: str, pat: str) -> None:
        self._forget_rows(owner)
        async with self._db() as db:
            row = await self._row(db, owner, slug)
            row.pat_ciphertext = self._cipher.encrypt(pat, row.uid)
            row.pat_rotated_at = utcnow()
            db.add(row)
            await db.commit()
            name = row.name
        await self._bridges.stop(name)  # the upstream reads its PAT once, at start

    async def delete_connection(self, owner: str, slug: str) -> None:
        self._forget_rows(owner)
        async with self._db() as db:
            row = await self._row(db, owner, slug)
            name = row.name
            await db.delete(row)
            await db.commit()
        await self._bridges.stop(name)
        self._activity.pop(name, None)

    # ---- bridges ----

    async def wake(self, view: ConnectionView) -> None:
        if view.spec.suspended:
            return
        self._activity[view.name] = time.monotonic()
        token = derive_bridge_token(self._routing_key, view.uid)

        async def launch() -> BridgeLaunch:
            async with self._db() as db:
                row = await self._row(db, view.owner, view.slug)
                if row.uid != view.uid:  # deleted and re-created meanwhile
                    raise ConnectionNotFoundError(view.slug)
                pat = self._cipher.decrypt(row.pat_ciphertext, row.uid)
                return BridgeLaunch(
                    name=row.name,
                    env=bridge_env(row),
                    secret_env={"MCPOD_PAT": pat, "MCPOD_BRIDGE_TOKEN": token},
                )

        await self._bridges.ensure_running(view.name, token, launch)

    async def record_activity(self, view: ConnectionView) -> None:
        self._activity[view.name] = time.monotonic()
        async with self._db() as db:
            row = (
                await db.exec(select(LocalConnection).where(LocalConnection.uid == view.uid))
            ).first()
            if row is not None:
                row.last_activity_at = utcnow()
                db.add(row)
                await db.commit()
        self._forget_rows(view.owner)

    def ready_endpoint(self, view: ConnectionView) -> BridgeEndpoint | None:
        bridge = self._bridges.get(view.name)
        if bridge is None or not bridge.ready.is_set() or not bridge.alive:
            return None
        # The bridge was started for exactly this row (name and uid); its token derives
        # from the uid, so a bridge of another connection would refuse it anyway.
        return BridgeEndpoint(
            url=bridge.url, token=derive_bridge_token(self._routing_key, view.uid)
        )

    async def wait_ready(self, view: ConnectionView, limit_seconds: float) -> BridgeEndpoint | None:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            endpoint = self.ready_endpoint(view)
            if endpoint is not None:
                return endpoint
            bridge = self._bridges.get(view.name)
            if bridge is None:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bridge.ready.wait(), min(0.5, deadline - time.monotonic()))
        return self.ready_endpoint(view)

    async def _ready(self, name: str) -> None:
        async with self._db() as db:
            row = (
                await db.exec(select(LocalConnection).where(LocalConnection.name == name))
            ).first()
            if row is None:
                return
            view = self._view(row)
        endpoint = self.ready_endpoint(view)
        if endpoint is None:
            return
        for listener in self._listeners:
            try:
                await listener(view, endpoint)
            except Exception:
                log.exception("ready listener failed for %s", name)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval)
            try:
                await self.reap_idle()
            except Exception:
                log.exception("idle reaping failed")

    async def reap_idle(self) -> list[str]:
        """Stop the bridges whose connection has been idle past its timeout; returns their names."""
        names = self._bridges.names()
        if not names:
            return []
        async with self._db() as db:
            rows = {
                r.name: r
                for r in await db.exec(
                    select(LocalConnection).where(col(LocalConnection.name).in_(names))
                )
            }
        now = time.monotonic()
        stopped = []
        for name in names:
            row = rows.get(name)
            bridge = self._bridges.get(name)
            if bridge is None:
                continue
            last = max(self._activity.get(name, bridge.started_at), bridge.started_at)
            if row is None or row.suspended or now - last >= row.idle_timeout_seconds:
                await self._bridges.stop(name)
                stopped.append(name)
        return stopped

    async def scale_to_zero(self, view: ConnectionView) -> None:
        """Stop the connection's bridge now, as the idle reaper would."""
        await self._bridges.stop(view.name)

    def bridge_pid(self, name: str) -> int | None:
        """For tests and diagnostics: the process id of a running bridge."""
        bridge = self._bridges.get(name)
        return bridge.process.pid if bridge and bridge.process else None
