"""Account-level services used by the portal and the admin CLI."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from webauthn.helpers.generate_user_handle import generate_user_handle

from .models import (
    ApiToken,
    Invite,
    LocalConnection,
    McpSession,
    OAuthAuthorizationCode,
    OAuthConsent,
    OAuthToken,
    Passkey,
    ToolCatalogue,
    User,
    WebSession,
)
from .models.base import utcnow


class UnknownUserError(LookupError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"no user with id {user_id!r}")
        self.user_id = user_id


async def create_user(db: AsyncSession, *, display_name: str) -> User:
    """A user without passkeys yet (they enrol one through an invite link)."""
    user = User(display_name=display_name, webauthn_user_handle=generate_user_handle())
    db.add(user)
    await db.flush()
    return user


async def get_user(db: AsyncSession, user_id: str) -> User:
    user = await db.get(User, user_id) if len(user_id) <= 32 else None
    if user is None:
        raise UnknownUserError(user_id)
    return user


async def create_invite(
    db: AsyncSession, *, user_id: str | None, valid_for: timedelta
) -> tuple[Invite, str]:
    """A single-use invite; returns the row and the token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    invite = Invite(
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        user_id=user_id,
        expires_at=utcnow() + valid_for,
    )
    db.add(invite)
    await db.flush()
    return invite, token


async def delete_user(db: AsyncSession, *, user_id: str) -> None:
    """Delete the user and everything they hold: passkeys, sessions, tokens, invites.

    Explicit deletes (not only ON DELETE CASCADE) so the outcome does not depend
    on SQLite's foreign-key pragma.  Features that hold per-user resources add
    their cleanup here.
    """
    await get_user(db, user_id)
    for model in (ApiToken, WebSession, Passkey, Invite):
        await db.exec(delete(model).where(col(model.user_id) == user_id))
    for oauth_model in (OAuthToken, OAuthAuthorizationCode, OAuthConsent):
        await db.exec(delete(oauth_model).where(col(oauth_model.user_id) == user_id))
    # /mcp: sessions, local connections (their bridges stop at the next idle sweep) and
    # tool catalogues.  The tool-call audit stays until its retention period ends.
    await db.exec(delete(McpSession).where(col(McpSession.user_id) == user_id))
    await db.exec(delete(LocalConnection).where(col(LocalConnection.owner) == user_id))
    await db.exec(delete(ToolCatalogue).where(col(ToolCatalogue.owner) == user_id))
    await db.exec(delete(User).where(col(User.id) == user_id))
    await db.flush()


async def user_summaries(db: AsyncSession) -> list[tuple[User, int, int]]:
    """Every user with their passkey count and live (unrevoked) token count."""
    passkeys = (
        select(Passkey.user_id, func.count().label("n")).group_by(col(Passkey.user_id)).subquery()
    )
    tokens = (
        select(ApiToken.user_id, func.count().label("n"))
        .where(col(ApiToken.revoked_at).is_(None))
        .group_by(col(ApiToken.user_id))
        .subquery()
    )
    rows = await db.exec(
        select(User, func.coalesce(passkeys.c.n, 0), func.coalesce(tokens.c.n, 0))
        .outerjoin(passkeys, passkeys.c.user_id == User.id)
        .outerjoin(tokens, tokens.c.user_id == User.id)
        .order_by(col(User.created_at))
    )
    return [(user, int(p), int(t)) for user, p, t in rows.all()]
