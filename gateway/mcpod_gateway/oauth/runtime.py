"""What the OAuth routes share for the app's lifetime, kept at ``app.state.oauth``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from ..auth.rate_limit import SlidingWindowLimiter, client_address
from .cimd_fetch import ClientMetadataFetcher
from .cors import PUBLIC_CORS_HEADERS
from .server import ServerConfig
from .tokens import OAuthAccessTokenVerifier


@dataclass
class OAuthRuntime:
    config: ServerConfig
    fetcher: ClientMetadataFetcher
    verifier: OAuthAccessTokenVerifier
    # Per client address: authorize/token/revoke per minute, registrations per hour.
    endpoint_limiter: SlidingWindowLimiter
    registration_limiter: SlidingWindowLimiter
    max_clients: int


def get_runtime(request: Request) -> OAuthRuntime:
    runtime: OAuthRuntime = request.app.state.oauth
    return runtime


RuntimeDep = Annotated[OAuthRuntime, Depends(get_runtime)]


def rate_limit(
    request: Request, limiter: SlidingWindowLimiter, what: str, *, cors: bool = True
) -> None:
    """429 with ``Retry-After`` once the address is over its budget.

    With ``cors`` (the endpoints browser-based clients call) the answer carries the
    CORS headers too, so such a client sees the 429 rather than a CORS failure.
    """
    retry_after = limiter.hit(client_address(request))
    if retry_after is not None:
        headers = {"Retry-After": str(int(retry_after) + 1)}
        if cors:
            headers.update(PUBLIC_CORS_HEADERS)
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many {what} requests from this address; try again later.",
            headers=headers,
        )
