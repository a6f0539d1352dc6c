"""Server-side browser sessions: a random cookie value, its SHA-256 in the database.

A new session (and cookie value) at every sign-in; sign-out deletes the row, so
the old cookie is worthless.  Idle and absolute timeouts come from settings.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from ..db import SessionDep
from ..models import User, WebSession
from ..models.base import utcnow
from ..settings import Settings
from . import cookies

# last_seen_at drives the idle timeout; minute resolution is enough and keeps
# page views from writing to the database every time.
LAST_SEEN_WRITE_INTERVAL: Final = timedelta(seconds=60)


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_web_session(
    db: AsyncSession, response: Response, settings: Settings, *, user_id: str, previous: str | None
) -> str:
    """Create a session for the user and set its cookie; ends the previous one (rotation)."""
    now = utcnow()
    if previous:
        await db.exec(
            delete(WebSession).where(col(WebSession.token_hash) == hash_session_token(previous))
        )
    # Sessions past their absolute limit are swept here rather than by a timer.
    await db.exec(delete(WebSession).where(col(WebSession.expires_at) < now))
    token = secrets.token_urlsafe(32)
    max_age = timedelta(hours=settings.session_max_hours)
    db.add(
        WebSession(
            token_hash=hash_session_token(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
    )
    await db.flush()
    cookies.set_cookie(
        response, settings, cookies.SESSION, token, max_age=int(max_age.total_seconds())
    )
    return token


async def end_web_session(
    db: AsyncSession, response: Response, settings: Settings, token: str | None
) -> None:
    if token:
        await db.exec(
            delete(WebSession).where(col(WebSession.token_hash) == hash_session_token(token))
        )
    cookies.delete_cookie(response, settings, cookies.SESSION)


async def end_all_web_sessions(db: AsyncSession, *, user_id: str) -> None:
    await db.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))


async def load_web_session(db: AsyncSession, settings: Settings, token: str) -> WebSession | None:
    """A live session, its idle timer refreshed; None if absent or expired (then deleted)."""
    row = await db.get(WebSession, hash_session_token(token))
    if row is None:
        return None
    now = utcnow()
    idle_limit = row.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= row.expires_at or now >= idle_limit:
        await db.delete(row)
        await db.commit()
        return None
    if now - row.last_seen_at >= LAST_SEEN_WRITE_INTERVAL:
        row.last_seen_at = now
        db.add(row)
        await db.commit()
    return row


async def load_signed_in_user(db: AsyncSession, settings: Settings, token: str) -> User | None:
    row = await load_web_session(db, settings, token)
    return await db.get(User, row.user_id) if row is not None else None


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(cookies.cookie_name(get_settings(request), cookies.SESSION))


_UNSET: Final = object()


class SignInRequiredError(Exception):
    """Raised by :func:`require_user`; the app turns it into a redirect or a 401."""


async def get_optional_user(request: Request, db: SessionDep) -> User | None:
    cached: User | object | None = getattr(request.state, "user", _UNSET)
    if cached is not _UNSET:
        assert cached is None or isinstance(cached, User)
        return cached
    token = session_cookie(request)
    row = await load_web_session(db, get_settings(request), token) if token else None
    user = await db.get(User, row.user_id) if row is not None else None
    request.state.user = user
    request.state.web_session = row if user is not None else None
    return user


async def require_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    if user is None:
        raise SignInRequiredError
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(require_user)]


class ReauthenticationRequiredError(Exception):
    """The action needs a recent passkey sign-in; the app sends the person to sign in again."""


async def require_recent_sign_in(request: Request, user: CurrentUser) -> User:
    """The signed-in user, if they proved their passkey within ``MCPOD_REAUTH_MINUTES``.

    Guards what would let a stolen session outlive itself: adding or removing a
    passkey, creating an API token.  Each sign-in starts a new session, so the
    session's creation time is the time of the last passkey assertion.
    """
    row: WebSession | None = getattr(request.state, "web_session", None)
    window = timedelta(minutes=get_settings(request).reauth_minutes)
    if row is None or utcnow() - row.created_at > window:
        raise ReauthenticationRequiredError
    return user


RecentlySignedInUser = Annotated[User, Depends(require_recent_sign_in)]
