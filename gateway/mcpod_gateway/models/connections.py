"""Connections kept by the gateway's database.

``LocalConnection`` is the local backend's store (the embedded default): the
kubernetes backend keeps connections as McpConnection resources instead.  The
PAT is only ever stored encrypted (AES-256-GCM under ``MCPOD_MASTER_KEY``).

``ToolCatalogue`` is the per-connection tool catalogue cache, shared by every
gateway replica and both backends, so ``tools/list`` never has to wake a pod.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow


class LocalConnection(SQLModel, table=True):
    __tablename__ = "local_connections"
    __table_args__ = (UniqueConstraint("owner", "slug", name="uq_local_connections_owner_slug"),)

    # Shaped like an McpConnection name, so both backends speak of connections alike.
    name: str = Field(primary_key=True, max_length=63)
    # Random, never reused: the bridge token is derived from it.
    uid: str = Field(sa_column=Column(String(36), unique=True, nullable=False))
    owner: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    slug: str = Field(max_length=22)
    organization: str = Field(max_length=64)
    domains: str = Field(default="", max_length=256)  # space-separated; empty = all
    read_only: bool = False
    tools_allow: str = Field(default="", max_length=2048)  # comma-separated names or globs
    tools_deny: str = Field(default="", max_length=2048)
    default_project: str = Field(default="", max_length=128)
    default_team: str = Field(default="", max_length=128)
    idle_timeout_seconds: int = 600
    suspended: bool = False
    server_version: str = Field(default="", max_length=64)
    # nonce (12 bytes) + ciphertext + tag; associated data binds it to this row's uid.
    pat_ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    pat_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_activity_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ToolCatalogue(SQLModel, table=True):
    __tablename__ = "tool_catalogues"

    # The connection's UID (CR metadata.uid or LocalConnection.uid): a deleted and
    # re-created connection never inherits an old catalogue.
    connection_uid: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=63, index=True)
    # SHA-256 over server version + domains + read-only + allow/deny: a catalogue
    # taken under other settings is stale.
    fingerprint: str = Field(max_length=64)
    tools_json: str = Field(sa_column=Column(Text, nullable=False))
    refreshed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
