"""The last-activity bump, throttled: at most once per interval per connection and replica.

The operator (and the local reaper) only need the stamp to move before the idle
timeout runs out, so writing it on every call would be pure load.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ActivityThrottle:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def due(self, key: str) -> bool:
        """True (and remembers now) when ``key`` was not bumped within the interval."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        return True

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
