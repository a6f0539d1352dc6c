"""Sessions of the 2025-11-25 protocol generation (handshake + ``Mcp-Session-Id``).

Kept in the database, not in memory, so any gateway replica can serve any
request of a session.  Only the SHA-256 of the session id is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow


class McpSession(SQLModel, table=True):
    __tablename__ = "mcp_sessions"

    id_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    protocol_version: str = Field(max_length=16)
    client_name: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
