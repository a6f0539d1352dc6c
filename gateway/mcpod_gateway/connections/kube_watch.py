"""A watch-fed cache of one kind of object in one namespace, as plain dicts.

List, then watch from the list's resourceVersion; on a 410 (history gone) or
any break, list again.  Readers never call the API: they read the store.
Every change wakes whoever waits on :meth:`changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger(__name__)

WATCH_SECONDS: Final = 240
RETRY_SECONDS: Final = 2.0

# list_fn(**kwargs) -> raw response (called with _preload_content=False).
ListFn = Callable[..., Any]


class WatchedCollection:
    def __init__(self, name: str, list_fn: ListFn, **selector: Any) -> None:
        self.name = name
        self._list = list_fn
        self._selector = selector
        self.items: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def changed(self, limit: float) -> None:
        """Return after the next change, or after ``limit`` seconds."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), limit)

    def put(self, obj: dict[str, Any]) -> None:
        """Apply an object we just wrote, before its watch event arrives."""
        name = obj.get("metadata", {}).get("name")
        if name:
            self.items[name] = obj
            self._notify()

    def drop(self, name: str) -> None:
        if self.items.pop(name, None) is not None:
            self._notify()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _run(self) -> None:
        while True:
            try:
                version = await self._relist()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watch of %s broke (%s); listing again", self.name, exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _relist(self) -> str:
        response = await self._list(**self._selector, _preload_content=False)
        try:
            if response.status >= 400:
                raise RuntimeError(f"list {self.name}: HTTP {response.status}")
            data = json.loads(await response.read())
        finally:
            response.release()
        self.items = {i["metadata"]["name"]: i for i in data.get("items") or []}
        self.synced.set()
        self._notify()
        return str(data.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> None:
        while True:
            response = await self._list(
                **self._selector,
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _preload_content=False,
            )
            try:
                if response.status >= 400:
                    raise RuntimeError(f"watch {self.name}: HTTP {response.status}")
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise RuntimeError(f"watch {self.name}: {obj.get('message', 'error')}")
                    version = str(obj.get("metadata", {}).get("resourceVersion", version))
                    if kind in ("ADDED", "MODIFIED"):
                        self.put(obj)
                    elif kind == "DELETED":
                        self.drop(obj["metadata"]["name"])
            finally:
                response.release()
