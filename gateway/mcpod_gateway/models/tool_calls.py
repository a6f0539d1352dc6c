"""The audit of tool calls through ``/mcp``: one row per call.

Time, user, connection, tool, outcome, duration and client name — never the
arguments, results or any secret.  Rows are not foreign keys to users: an
audit outlives what it describes until the retention period removes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow


class ToolCall(SQLModel, table=True):
    __tablename__ = "tool_calls"
    __table_args__ = (Index("ix_tool_calls_user_id_at", "user_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    user_id: str = Field(max_length=32)
    connection: str = Field(max_length=64)  # the slug the caller named (only if it is theirs)
    tool: str = Field(max_length=128)
    outcome: str = Field(max_length=24)  # see mcpod_gateway.audit.Outcome
    duration_ms: int = 0
    client_name: str = Field(default="", max_length=128)
    token_kind: str = Field(default="", max_length=16)
