"""The revocation endpoint (``POST /revoke``, RFC 7009)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..db import SessionDep
from .body import BodyError, read_form_pairs
from .cors import preflight, with_public_cors
from .metadata import REVOKE_PATH
from .requests import GatewayOAuth2Request
from .runtime import RuntimeDep, rate_limit
from .server import GatewayAuthorizationServer, SyncStore, run_oauth

router = APIRouter(tags=["oauth"])


@router.post(REVOKE_PATH)
async def revoke_token(request: Request, db: SessionDep, runtime: RuntimeDep) -> Response:
    rate_limit(request, runtime.endpoint_limiter, "revocation")
    try:
        form = await read_form_pairs(request)
    except BodyError as exc:
        return with_public_cors(exc.response)
    oauth_request = GatewayOAuth2Request(
        "POST", runtime.config.issuer + REVOKE_PATH, form=form, headers=request.headers
    )
    sync_store = SyncStore(db)
    server = GatewayAuthorizationServer(runtime.config, sync_store)
    response = await run_oauth(lambda: server.create_endpoint_response("revocation", oauth_request))
    await db.commit()
    for family in sync_store.revoked_families:
        runtime.verifier.forget_family(family)
    return with_public_cors(response)


@router.options(REVOKE_PATH)
async def preflight_revoke() -> Response:
    return preflight()
