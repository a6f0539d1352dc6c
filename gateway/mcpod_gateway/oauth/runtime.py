"""What the OAuth routes share for the app's lifetime, kept at ``app.state.oauth``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from ..auth.rate_limit import SlidingWindowLimiter, client_address
from .cimd_fetch import ClientMetadataFetcher
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


def rate_limit(request: Request, limiter: SlidingWindowLimiter, what: str) -> None:
    retry_after = limiter.hit(client_address(request))
    if retry_after is not None:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many {what} requests from this address; try again later.",
            headers={"Retry-After": str(int(retry_after) + 1)},
        )
