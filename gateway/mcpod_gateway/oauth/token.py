"""The token endpoint (``POST /token``): authorization code and refresh token grants."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..db import SessionDep
from .body import BodyError, read_form_pairs
from .cors import preflight, with_public_cors
from .metadata import TOKEN_PATH
from .requests import GatewayOAuth2Request
from .runtime import RuntimeDep, rate_limit
from .server import GatewayAuthorizationServer, SyncStore, run_oauth

router = APIRouter(tags=["oauth"])


@router.post(TOKEN_PATH)
async def create_token(request: Request, db: SessionDep, runtime: RuntimeDep) -> Response:
    rate_limit(request, runtime.endpoint_limiter, "token")
    try:
        form = await read_form_pairs(request)
    except BodyError as exc:
        return with_public_cors(exc.response)
    oauth_request = GatewayOAuth2Request(
        "POST", runtime.config.issuer + TOKEN_PATH, form=form, headers=request.headers
    )
    sync_store = SyncStore(db)
    server = GatewayAuthorizationServer(runtime.config, sync_store)
    response = await run_oauth(lambda: server.create_token_response(oauth_request))
    # Always commit: a burnt code or a family revoked for reuse must stay so
    # even though the answer is an error.
    await db.commit()
    for family in sync_store.revoked_families:
        runtime.verifier.forget_family(family)
    return with_public_cors(response)


@router.options(TOKEN_PATH)
async def preflight_token() -> Response:
    return preflight()
