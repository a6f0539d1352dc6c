"""Browser sessions and pending WebAuthn ceremonies, both server-side.

Only SHA-256 hashes of the cookie values are stored, so a database dump does
not hand out live sessions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # absolute limit


class WebAuthnChallenge(SQLModel, table=True):
    """One pending ceremony; deleted when it is answered (single use) or expires."""

    __tablename__ = "webauthn_challenges"

    ceremony_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    purpose: str = Field(max_length=16)  # "signup" | "signin" | "add"
    challenge: bytes = Field(sa_column=Column(LargeBinary(128), nullable=False))
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # For "signup": the account to create.  For "add": the signed-in user.
    user_id: str | None = Field(default=None, max_length=32)
    user_handle: bytes | None = Field(default=None, sa_column=Column(LargeBinary(64)))
    display_name: str | None = Field(default=None, max_length=64)
    passkey_name: str | None = Field(default=None, max_length=64)
    invite_id: int | None = None
