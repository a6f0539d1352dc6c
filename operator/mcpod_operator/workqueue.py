"""A de-duplicating work queue with delayed re-queues, for keys like (namespace, name).

The same shape as client-go's workqueue: a key is queued at most once; a key being processed is
never handed to a second worker, and if it is queued meanwhile it is processed again afterwards.
Delayed keys (the idle deadline of each connection, backoffs) sit in one heap served by one task,
so thousands of connections cost one timer, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._has_items = asyncio.Event()
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._sequence = 0
        self._timer_changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def delayed_count(self) -> int:
        return len(self._due)

    def add(self, key: K) -> None:
        """Queue a key now (no-op if already queued)."""
        if key in self._processing:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue a key after ``delay`` seconds; an earlier pending time for the key wins."""
        if delay <= 0:
            self.add(key)
            return
        due = time.monotonic() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        self._sequence += 1
        heapq.heappush(self._delayed, (due, self._sequence, key))
        self._timer_changed.set()

    def forget(self, key: K) -> None:
        """Drop a pending delayed re-queue (the object is gone)."""
        self._due.pop(key, None)

    def _notify(self) -> None:
        self._has_items.set()

    async def get(self) -> K:
        """Wait for a key and mark it as being processed; call done(key) afterwards."""
        while not self._ready:
            self._has_items.clear()
            await self._has_items.wait()
        # No await between the check and the pop: another worker cannot take this key.
        key = self._ready.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    async def run_timer(self) -> None:
        """Move delayed keys to the ready queue when they are due (runs until cancelled)."""
        while True:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                due, _, key = heapq.heappop(self._delayed)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            self._timer_changed.clear()
            timeout = self._delayed[0][0] - now if self._delayed else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)
