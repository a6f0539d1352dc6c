"""CSRF protection for every state-changing portal request.

Two independent checks, both required:

1. Origin: ``Sec-Fetch-Site`` (when sent) must be ``same-origin`` or ``none``,
   and ``Origin`` (when sent) must equal ``MCPOD_PUBLIC_URL``.
2. Token: a signed double-submit token.  A random seed lives in an HttpOnly
   cookie; the token is HMAC(secret key, seed + session cookie), embedded in
   every form (``csrf_token``) and in a ``<meta>`` for JavaScript, which sends
   it as ``X-CSRF-Token``.  Binding the session means the token changes at
   sign-in, so a token seen before sign-in is useless after.

Portal routers add :data:`CsrfProtected` as a router dependency; it lets safe
methods through.  Bearer-authenticated endpoints (``/mcp``, OAuth ``/token``)
must not use it: they carry no ambient credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request, status
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..keys import Keys
from ..settings import Settings
from . import cookies

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_FIELD: Final = "csrf_token"
HEADER: Final = "x-csrf-token"
_NEW_SEED_STATE: Final = "csrf_new_seed"


def compute_csrf_token(secret: bytes, seed: str, session_token: str | None) -> str:
    message = f"csrf\x00{seed}\x00{session_token or ''}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _seed(request: Request) -> str:
    settings: Settings = request.app.state.settings
    seed = request.cookies.get(cookies.cookie_name(settings, cookies.CSRF_SEED))
    if seed and 20 <= len(seed) <= 64:
        return seed
    new: str | None = getattr(request.state, _NEW_SEED_STATE, None)
    if new is None:
        new = secrets.token_urlsafe(24)
        setattr(request.state, _NEW_SEED_STATE, new)
    return new


def csrf_token_for(request: Request) -> str:
    """The token to embed in the page being rendered for this request."""
    settings: Settings = request.app.state.settings
    keys: Keys = request.app.state.keys
    session = request.cookies.get(cookies.cookie_name(settings, cookies.SESSION))
    return compute_csrf_token(keys.secret, _seed(request), session)


def check_origin(request: Request, expected_origin: str) -> str | None:
    """None if the request comes from our own pages, else why not."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() != expected_origin:
        return "request from another origin refused"
    return None


async def verify_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    settings: Settings = request.app.state.settings
    problem = check_origin(request, settings.origin)
    if problem is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=problem)
    presented = request.headers.get(HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(FORM_FIELD)
        presented = value if isinstance(value, str) else None
    seed = request.cookies.get(cookies.cookie_name(settings, cookies.CSRF_SEED))
    if not presented or not seed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="missing CSRF token: reload the page and try again",
        )
    if not hmac.compare_digest(presented.encode(), csrf_token_for(request).encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="invalid CSRF token: reload the page and try again",
        )


CsrfProtected = Depends(verify_csrf)
CsrfToken = Annotated[str, Depends(csrf_token_for)]


class CsrfSeedCookieMiddleware:
    """Sets the CSRF seed cookie when a page handed out a token from a new seed."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                seed = scope.get("state", {}).get(_NEW_SEED_STATE)
                if seed is not None:
                    carrier = Response()
                    cookies.set_cookie(
                        carrier, self.settings, cookies.CSRF_SEED, seed, max_age=None
                    )
                    message.setdefault("headers", [])
                    message["headers"] = [
                        *message["headers"],
                        *[(k, v) for k, v in carrier.raw_headers if k == b"set-cookie"],
                    ]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
