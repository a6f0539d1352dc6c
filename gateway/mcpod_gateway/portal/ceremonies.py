"""JSON endpoints the portal's JavaScript calls for passkey ceremonies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from ..admin_audit import record_admin_event
from ..auth import cookies, passkeys
from ..auth.csrf import CsrfProtected
from ..auth.rate_limit import AuthRateLimited
from ..auth.sessions import (
    CurrentUser,
    RecentlySignedInUser,
    SettingsDep,
    session_cookie,
    start_web_session,
)
from ..db import SessionDep
from ..names import InvalidNameError, clean_name
from ..settings import Registration, Settings
from .next_page import safe_next_page

router = APIRouter(prefix="/webauthn", dependencies=[CsrfProtected], tags=["passkeys"])


class SignupOptionsIn(BaseModel):
    display_name: str = Field(max_length=1000)
    invite: str | None = Field(default=None, max_length=128)


class AddPasskeyOptionsIn(BaseModel):
    name: str = Field(max_length=1000)


class CredentialIn(BaseModel):
    credential: dict[str, Any]
    next: str | None = Field(default=None, max_length=200)  # sign-in only: where to go after


def _started(settings: Settings, start: passkeys.CeremonyStart) -> Response:
    response = JSONResponse({"options": start.options})
    cookies.set_cookie(
        response,
        settings,
        cookies.CEREMONY,
        start.ceremony_token,
        max_age=settings.challenge_ttl_seconds,
    )
    return response


def _finished(settings: Settings, redirect: str) -> JSONResponse:
    response = JSONResponse({"redirect": redirect})
    cookies.delete_cookie(response, settings, cookies.CEREMONY)
    return response


def _ceremony_cookie(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(cookies.cookie_name(settings, cookies.CEREMONY))


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=message)


@router.post("/signup/options")
async def start_signup(
    body: SignupOptionsIn, db: SessionDep, settings: SettingsDep, _limited: AuthRateLimited
) -> Response:
    invite = await passkeys.find_invite(db, body.invite)
    if body.invite is not None and invite is None:
        raise _bad("This invite link is invalid, expired or already used.")
    if settings.registration is Registration.INVITE and invite is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Sign-up is by invitation only.")
    try:
        display_name = clean_name(body.display_name, what="Display name")
    except InvalidNameError as exc:
        if invite is None or invite.user_id is None:
            raise _bad(str(exc)) from None
        display_name = ""  # enrolling an existing account keeps its name
    try:
        start = await passkeys.begin_signup(db, settings, display_name=display_name, invite=invite)
    except passkeys.CeremonyError as exc:
        raise _bad(str(exc)) from None
    await db.commit()
    return _started(settings, start)


@router.post("/signup/verify")
async def finish_signup(
    body: CredentialIn,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    _limited: AuthRateLimited,
) -> Response:
    try:
        user = await passkeys.finish_signup(
            db,
            settings,
            ceremony_token=_ceremony_cookie(request, settings),
            credential=body.credential,
        )
    except passkeys.CeremonyError as exc:
        await db.commit()  # the challenge stays consumed
        raise _bad(str(exc)) from None
    record_admin_event(db, actor=user.id, action="user.signup", target_user_id=user.id)
    response = _finished(settings, "/connections")
    await start_web_session(
        db, response, settings, user_id=user.id, previous=session_cookie(request)
    )
    await db.commit()
    return response


@router.post("/signin/options")
async def start_signin(
    db: SessionDep, settings: SettingsDep, _limited: AuthRateLimited
) -> Response:
    start = await passkeys.begin_signin(db, settings)
    await db.commit()
    return _started(settings, start)


@router.post("/signin/verify")
async def finish_signin(
    body: CredentialIn,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    _limited: AuthRateLimited,
) -> Response:
    try:
        user = await passkeys.finish_signin(
            db,
            settings,
            ceremony_token=_ceremony_cookie(request, settings),
            credential=body.credential,
        )
    except passkeys.CeremonyError as exc:
        await db.commit()
        raise _bad(str(exc)) from None
    response = _finished(settings, safe_next_page(body.next))
    await start_web_session(
        db, response, settings, user_id=user.id, previous=session_cookie(request)
    )
    await db.commit()
    return response


@router.post("/passkeys/options")
async def start_add_passkey(
    body: AddPasskeyOptionsIn, user: RecentlySignedInUser, db: SessionDep, settings: SettingsDep
) -> Response:
    try:
        name = clean_name(body.name, what="Passkey name")
    except InvalidNameError as exc:
        raise _bad(str(exc)) from None
    start = await passkeys.begin_add_passkey(db, settings, user=user, passkey_name=name)
    await db.commit()
    return _started(settings, start)


@router.post("/passkeys/verify")
async def finish_add_passkey(
    body: CredentialIn, request: Request, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Response:
    try:
        passkey = await passkeys.finish_add_passkey(
            db,
            settings,
            user=user,
            ceremony_token=_ceremony_cookie(request, settings),
            credential=body.credential,
        )
    except passkeys.CeremonyError as exc:
        await db.commit()
        raise _bad(str(exc)) from None
    record_admin_event(
        db, actor=user.id, action="passkey.add", target_user_id=user.id, detail=passkey.name
    )
    await db.commit()
    return _finished(settings, "/account")
