"""API tokens for agents: stored as SHA-256 of the token, shown to the user once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow

TOKEN_NAME_MAX = 64


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=TOKEN_NAME_MAX)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    # The first characters after the prefix, shown in lists so people can tell tokens apart.
    hint: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
