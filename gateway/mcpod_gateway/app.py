"""The gateway application: ``create_app(settings)``.

The lifespan owns every long-lived resource.  Core resources are put on
``app.state`` in this order, then each feature's own lifespan runs:

- ``settings`` (:class:`Settings`), ``keys`` (:class:`Keys`, checked by the key guard
  before anything else),
- ``engine`` and ``sessionmaker`` (migrated to head when ``MCPOD_MIGRATE_ON_START``),
- ``bearer_verifier`` (:class:`CompositeBearerVerifier`; add OAuth's with ``.add``),
  ``api_token_verifier``,
- ``templates``, ``auth_rate_limiter``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from . import health, migrations
from .auth.api_tokens import ApiTokenVerifier
from .auth.bearer import CompositeBearerVerifier
from .auth.csrf import CsrfSeedCookieMiddleware
from .auth.rate_limit import SlidingWindowLimiter
from .auth.sessions import ReauthenticationRequiredError, SignInRequiredError
from .db import create_engine, create_sessionmaker
from .features import Feature
from .keys import resolve_keys
from .portal.next_page import reauthentication_url
from .security_headers import SecurityHeadersMiddleware
from .settings import Settings
from .templating import STATIC_DIR, create_templates, render

log = logging.getLogger(__name__)


def gateway_features() -> list[Feature]:
    """Every part of the gateway, in start order.  Add yours here (see features.py)."""
    from . import oauth, portal
    from .mcp import feature as mcp_feature

    # /mcp first: routes are matched in order and it is the hot path.
    return [mcp_feature.FEATURE, portal.FEATURE, oauth.FEATURE]


class GatewayApp(FastAPI):
    """FastAPI, plus the features' direct endpoints: an exact path match goes straight to
    its ASGI app, skipping the middleware stack and the router.

    For ``/mcp`` those layers (CSRF cookie seeding, header rewriting, exception and
    routing machinery) cost as much CPU per call as forwarding the call itself, and none
    of them applies to a bearer-authenticated JSON-RPC endpoint.
    """

    def __init__(self, *, direct_endpoints: dict[str, ASGIApp], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct_endpoints = direct_endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.direct_endpoints.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, features: list[Feature] | None = None
) -> FastAPI:
    """Build the app.  Raises KeyGuardError at once when keys are missing."""
    settings = settings or Settings()
    keys = resolve_keys(settings)  # fail before serving anything
    chosen = gateway_features() if features is None else features

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.effective_database_url)
        try:
            if settings.migrate_on_start:
                await migrations.upgrade(engine)
            sessionmaker = create_sessionmaker(engine)
            api_tokens = ApiTokenVerifier(sessionmaker, cache_seconds=settings.token_cache_seconds)
            app.state.engine = engine
            app.state.sessionmaker = sessionmaker
            app.state.api_token_verifier = api_tokens
            app.state.bearer_verifier = CompositeBearerVerifier([api_tokens])
            async with AsyncExitStack() as stack:
                for feature in chosen:
                    if feature.lifespan is not None:
                        await stack.enter_async_context(feature.lifespan(app))
                log.info("gateway ready at %s", settings.public_url)
                yield
        finally:
            await engine.dispose()

    direct: dict[str, ASGIApp] = {}
    for feature in chosen:
        for path, endpoint in feature.endpoints.items():
            if path in direct:
                raise ValueError(f"two features serve {path}")
            direct[path] = endpoint
    app = GatewayApp(
        direct_endpoints=direct,
        title="mcpod gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.templates = create_templates()
    app.state.auth_rate_limiter = SlidingWindowLimiter(
        limit=settings.auth_rate_per_minute, window_seconds=60
    )

    app.include_router(health.router)
    for feature in chosen:
        for router in feature.routers:
            app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_exception_handler(SignInRequiredError, _sign_in_required)
    app.add_exception_handler(ReauthenticationRequiredError, _reauthentication_required)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    # Outermost last: proxy headers first, so the client address and scheme are
    # right for everything inside.
    app.add_middleware(CsrfSeedCookieMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware, https=settings.secure_cookies)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies or [])
    return app


def _wants_html(request: Request) -> bool:
    # Browsers navigating send Accept: text/html; the portal's fetch() calls send JSON.
    accept = request.headers.get("accept", "")
    is_json = request.headers.get("content-type", "").startswith("application/json")
    return "text/html" in accept and not is_json


async def _sign_in_required(request: Request, _exc: Exception) -> Response:
    if _wants_html(request):
        return RedirectResponse("/signin", status_code=303)
    return JSONResponse({"error": "sign in first"}, status_code=401)


async def _reauthentication_required(request: Request, _exc: Exception) -> Response:
    target = reauthentication_url(request.url.path)
    if _wants_html(request):
        return RedirectResponse(target, status_code=303)
    return JSONResponse(
        {
            "error": "Please confirm it's you: sign in with your passkey again.",
            "reauthenticate": target,
        },
        status_code=401,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _wants_html(request):
        context = {"message": exc.detail, "status": exc.status_code}
        response: Response = render(request, "error.html", context, status_code=exc.status_code)
        response.headers.update(exc.headers or {})
        return response
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ())[1:]) or 'request'}: {err.get('msg')}"
        for err in exc.errors()
    )
    message = f"invalid request: {problems}"
    if _wants_html(request):
        return render(request, "error.html", {"message": message, "status": 422}, status_code=422)
    return JSONResponse({"error": message}, status_code=422)
