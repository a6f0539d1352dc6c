"""The portal page listing the agents (OAuth clients) a person allowed, with revoke."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, HTTPException, Request, status
from starlette.responses import RedirectResponse, Response

from ..admin_audit import record_admin_event
from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser
from ..db import SessionDep
from ..templating import render
from . import store
from .runtime import RuntimeDep

CLIENTS_PATH: Final = "/oauth/clients"

router = APIRouter(dependencies=[CsrfProtected], tags=["portal"])


@router.get(CLIENTS_PATH)
async def read_granted_clients(
    request: Request, user: CurrentUser, db: SessionDep, revoked: str | None = None
) -> Response:
    clients = await store.list_granted_clients(db, user_id=user.id)
    message = "Access revoked." if revoked == "1" else None
    return render(request, "oauth_clients.html", {"clients": clients, "message": message})


@router.post(CLIENTS_PATH + "/{consent_id}/revoke")
async def revoke_granted_client(
    consent_id: int, user: CurrentUser, db: SessionDep, runtime: RuntimeDep
) -> Response:
    families = await store.revoke_client_grant(db, user_id=user.id, consent_id=consent_id)
    if families is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No such allowed agent.")
    record_admin_event(
        db, actor=user.id, action="oauth.revoke", target_user_id=user.id, detail=str(consent_id)
    )
    await db.commit()
    for family in families:
        runtime.verifier.forget_family(family)
    return RedirectResponse(CLIENTS_PATH + "?revoked=1", status_code=303)
