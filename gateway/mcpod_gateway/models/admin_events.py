"""Audit trail of account and administrative actions (not tool calls: see the /mcp audit).

Rows outlive the user they name, so ``target_user_id`` is deliberately not a
foreign key.  Details never hold tokens or other secrets.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow


class AdminEvent(SQLModel, table=True):
    __tablename__ = "admin_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)  # "cli" or the acting user's id
    action: str = Field(max_length=64)  # e.g. "user.create", "token.revoke"
    target_user_id: str | None = Field(default=None, max_length=32, index=True)
    detail: str = Field(default="", max_length=256)
