"""A small in-process rate limiter for sign-in and registration endpoints.

Per replica, keyed by client address (the TCP peer, or X-Forwarded-For from a
trusted proxy only: see MCPOD_TRUSTED_PROXIES).  Enough to stop one client from
hammering WebAuthn ceremonies; not a global quota.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status


class SlidingWindowLimiter:
    def __init__(
        self, *, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    def hit(self, key: str) -> float | None:
        """Record a hit; None if allowed, else the seconds until the next one would be."""
        now = self._clock()
        self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - now, 0.001)
        hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        # Drop idle keys now and then so memory stays bounded by active clients.
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limit_auth_attempts(request: Request) -> None:
    limiter: SlidingWindowLimiter = request.app.state.auth_rate_limiter
    retry_after = limiter.hit(client_address(request))
    if retry_after is not None:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many sign-in or registration attempts; wait a minute and try again.",
            headers={"Retry-After": str(int(retry_after) + 1)},
        )


AuthRateLimited = Annotated[None, Depends(limit_auth_attempts)]
