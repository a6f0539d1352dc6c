"""``ConnectionBackend``: the one interface the portal, the admin CLI and ``/mcp`` use.

Every method that takes an ``owner`` answers only about that owner's
connections: a slug that belongs to somebody else is reported exactly like a
slug that does not exist (:class:`ConnectionNotFoundError`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .model import BridgeEndpoint, ConnectionSpec, ConnectionView

# Called (without awaiting the caller) when a connection's bridge became ready, so the
# tool catalogue can be refreshed while the pod is up.
ReadyListener = Callable[[ConnectionView, BridgeEndpoint], Awaitable[None]]


class ConnectionBackend(Protocol):
    kind: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def add_ready_listener(self, listener: ReadyListener) -> None: ...

    async def list_connections(self, owner: str) -> list[ConnectionView]: ...

    async def get_connection(self, owner: str, slug: str) -> ConnectionView:
        """The owner's connection, or ConnectionNotFoundError."""
        ...

    async def create_connection(
        self, owner: str, spec: ConnectionSpec, pat: str
    ) -> ConnectionView: ...

    async def update_connection(
        self, owner: str, slug: str, spec: ConnectionSpec
    ) -> ConnectionView: ...

    async def rotate_pat(self, owner: str, slug: str, pat: str) -> None: ...

    async def delete_connection(self, owner: str, slug: str) -> None: ...

    async def wake(self, view: ConnectionView) -> None:
        """Ask for a running bridge (the kubernetes backend sets the last-activity stamp)."""
        ...

    async def record_activity(self, view: ConnectionView) -> None:
        """Move the idle deadline (callers throttle this)."""
        ...

    def ready_endpoint(self, view: ConnectionView) -> BridgeEndpoint | None:
        """The bridge to call, only if it is ready and verifiably this owner's; else None."""
        ...

    async def wait_ready(self, view: ConnectionView, limit_seconds: float) -> BridgeEndpoint | None:
        """Wait (bounded) until ``ready_endpoint`` has an answer."""
        ...
