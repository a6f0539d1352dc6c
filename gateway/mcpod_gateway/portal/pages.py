"""Landing, sign-in, sign-up and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ..auth.csrf import CsrfProtected
from ..auth.passkeys import find_invite
from ..auth.sessions import OptionalUser, SettingsDep, end_web_session, session_cookie
from ..db import SessionDep
from ..settings import Registration
from ..templating import render
from .next_page import safe_next_page

router = APIRouter(dependencies=[CsrfProtected], tags=["portal"])


@router.get("/")
async def read_home(user: OptionalUser) -> Response:
    return RedirectResponse("/connections" if user else "/signin", status_code=303)


@router.get("/signin")
async def read_signin(
    request: Request, user: OptionalUser, reauth: bool = False, next: str | None = None
) -> Response:
    target = safe_next_page(next)
    if user is not None and not reauth:
        return RedirectResponse(target, status_code=303)
    return render(request, "signin.html", {"reauth": reauth and user is not None, "next": target})


@router.get("/signup")
async def read_signup(
    request: Request,
    user: OptionalUser,
    db: SessionDep,
    settings: SettingsDep,
    invite: str | None = None,
) -> Response:
    if user is not None:
        return RedirectResponse("/account", status_code=303)
    found = await find_invite(db, invite)
    if invite is not None and found is None:
        return render(
            request,
            "signup.html",
            {"closed": True, "message": "This invite link is invalid, expired or already used."},
            status_code=400,
        )
    closed = settings.registration is Registration.INVITE and found is None
    return render(
        request,
        "signup.html",
        {
            "closed": closed,
            "invite": invite if found else None,
            "enrol_existing": found is not None and found.user_id is not None,
        },
    )


@router.post("/signout")
async def sign_out(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    await end_web_session(db, response, settings, session_cookie(request))
    await db.commit()
    return response
