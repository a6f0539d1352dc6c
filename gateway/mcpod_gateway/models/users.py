"""People: one row per account; a user id is also the ``mcpod.dev/owner`` label value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, new_user_id, utcnow

DISPLAY_NAME_MAX = 64


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_user_id, primary_key=True, max_length=32)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)
    # The WebAuthn user handle (random, not the id: it is sent to authenticators).
    webauthn_user_handle: bytes = Field(
        sa_column=Column(LargeBinary(64), unique=True, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Invite(SQLModel, table=True):
    """A single-use link to create an account, or to enrol a passkey for an existing user."""

    __tablename__ = "invites"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    # Set: the link enrols a passkey for this (admin-created) user.  None: a new account.
    user_id: str | None = Field(
        default=None,
        sa_column=Column(String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
