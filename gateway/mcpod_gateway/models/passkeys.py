"""Passkeys: WebAuthn credentials, several per user, never fewer than one once enrolled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow

PASSKEY_NAME_MAX = 64


class Passkey(SQLModel, table=True):
    __tablename__ = "passkeys"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    credential_id: bytes = Field(sa_column=Column(LargeBinary(1023), unique=True, nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sign_count: int = 0
    name: str = Field(max_length=PASSKEY_NAME_MAX)
    # "single_device" or "multi_device" (synced), as the authenticator reported.
    device_type: str = Field(max_length=16)
    backed_up: bool = False
    transports: str = Field(default="", max_length=128)  # space-separated hints
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
