"""The tokens page: API tokens for agents (create, shown once; revoke)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ..admin_audit import record_admin_event
from ..auth.api_tokens import (
    MAX_EXPIRY_DAYS,
    TOKEN_PREFIX,
    ApiTokenVerifier,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser, RecentlySignedInUser, SettingsDep
from ..db import SessionDep
from ..models.base import utcnow
from ..names import InvalidNameError, clean_name
from ..templating import render

router = APIRouter(prefix="/tokens", dependencies=[CsrfProtected], tags=["portal"])

EXPIRY_CHOICES = (
    ("", "Never"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
)


def parse_expiry_days(value: str) -> int | None:
    """'' → no expiry; '1'…'366' → days; anything else raises ValueError with a message."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPIRY_DAYS:
        raise ValueError(
            f"Expiry must be empty (never) or a number of days from 1 to {MAX_EXPIRY_DAYS}"
        )
    return int(text)


async def _page(
    request: Request,
    db: SessionDep,
    user: CurrentUser,
    *,
    error: str | None = None,
    name: str = "",
) -> Response:
    return render(
        request,
        "tokens.html",
        {
            "tokens": await list_api_tokens(db, user_id=user.id),
            "now": utcnow(),
            "prefix": TOKEN_PREFIX,
            "expiry_choices": EXPIRY_CHOICES,
            "error": error,
            "name": name,
        },
        status_code=400 if error else 200,
    )


@router.get("")
async def read_tokens(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    return await _page(request, db, user)


@router.post("")
async def create_token(
    request: Request,
    user: RecentlySignedInUser,
    db: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        clean = clean_name(name, what="Token name")
        days = parse_expiry_days(expires_in_days)
    except (InvalidNameError, ValueError) as exc:
        return await _page(request, db, user, error=str(exc), name=name[:64])
    expires_at = utcnow() + timedelta(days=days) if days else None
    row, token = await create_api_token(db, user_id=user.id, name=clean, expires_at=expires_at)
    record_admin_event(
        db, actor=user.id, action="token.create", target_user_id=user.id, detail=clean
    )
    await db.commit()
    return render(
        request,
        "token_created.html",
        {"token": token, "row": row, "mcp_url": f"{settings.public_url}/mcp"},
        no_store=True,
    )


@router.post("/{token_id}/revoke")
async def revoke_token(
    token_id: int, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    row = await revoke_api_token(db, user_id=user.id, token_id=token_id)
    if row is None:
        return await _page(request, db, user, error="No such active token.")
    record_admin_event(
        db, actor=user.id, action="token.revoke", target_user_id=user.id, detail=row.name
    )
    await db.commit()
    verifier: ApiTokenVerifier = request.app.state.api_token_verifier
    verifier.forget_token(row.token_hash)
    return RedirectResponse("/tokens", status_code=303)
