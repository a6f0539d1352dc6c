"""The account page: the user's passkeys (add, remove) and their sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import delete
from sqlmodel import col, select
from starlette.responses import RedirectResponse, Response

from ..admin_audit import record_admin_event
from ..auth.csrf import CsrfProtected
from ..auth.passkeys import list_passkeys, remove_passkey
from ..auth.sessions import (
    CurrentUser,
    RecentlySignedInUser,
    hash_session_token,
    session_cookie,
)
from ..db import SessionDep
from ..models import WebSession
from ..templating import render

router = APIRouter(prefix="/account", dependencies=[CsrfProtected], tags=["portal"])


async def _page(
    request: Request, db: SessionDep, user: CurrentUser, *, error: str | None = None
) -> Response:
    sessions = await db.exec(
        select(WebSession)
        .where(WebSession.user_id == user.id)
        .order_by(col(WebSession.last_seen_at).desc())
    )
    return render(
        request,
        "account.html",
        {
            "passkeys": await list_passkeys(db, user_id=user.id),
            "sessions": list(sessions.all()),
            "current_session": hash_session_token(session_cookie(request) or ""),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.get("")
async def read_account(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _page(request, db, user)


@router.post("/passkeys/{passkey_id}/delete")
async def delete_passkey(
    passkey_id: int, request: Request, user: RecentlySignedInUser, db: SessionDep
) -> Response:
    if not await remove_passkey(db, user=user, passkey_id=passkey_id):
        return await _page(
            request,
            db,
            user,
            error="That passkey cannot be removed: it is your last one, or not yours.",
        )
    record_admin_event(
        db, actor=user.id, action="passkey.remove", target_user_id=user.id, detail=str(passkey_id)
    )
    await db.commit()
    return RedirectResponse("/account", status_code=303)


@router.post("/sessions/end-others")
async def end_other_sessions(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    current = hash_session_token(session_cookie(request) or "")
    await db.exec(
        delete(WebSession).where(
            col(WebSession.user_id) == user.id, col(WebSession.token_hash) != current
        )
    )
    record_admin_event(db, actor=user.id, action="session.end_others", target_user_id=user.id)
    await db.commit()
    return RedirectResponse("/account", status_code=303)
