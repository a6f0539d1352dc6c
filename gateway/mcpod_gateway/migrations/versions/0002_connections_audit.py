"""Local connections (encrypted PATs), tool catalogue cache, MCP sessions and the tool-call audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:35:14.472809
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("client_name", sa.String(length=128), nullable=False),
        sa.Column("token_kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_calls_at"), ["at"], unique=False)
        batch_op.create_index("ix_tool_calls_user_id_at", ["user_id", "at"], unique=False)

    op.create_table(
        "tool_catalogues",
        sa.Column("connection_uid", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=63), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("tools_json", sa.Text(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connection_uid"),
    )
    with op.batch_alter_table("tool_catalogues", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_catalogues_owner"), ["owner"], unique=False)

    op.create_table(
        "local_connections",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("slug", sa.String(length=22), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=False),
        sa.Column("domains", sa.String(length=256), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("tools_allow", sa.String(length=2048), nullable=False),
        sa.Column("tools_deny", sa.String(length=2048), nullable=False),
        sa.Column("default_project", sa.String(length=128), nullable=False),
        sa.Column("default_team", sa.String(length=128), nullable=False),
        sa.Column("idle_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("server_version", sa.String(length=64), nullable=False),
        sa.Column("pat_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("pat_rotated_at", sa.DateTime(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["owner"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("owner", "slug", name="uq_local_connections_owner_slug"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("local_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_local_connections_owner"), ["owner"], unique=False)

    op.create_table(
        "mcp_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("protocol_version", sa.String(length=16), nullable=False),
        sa.Column("client_name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("mcp_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mcp_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mcp_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mcp_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_mcp_sessions_expires_at"))

    op.drop_table("mcp_sessions")
    with op.batch_alter_table("local_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_local_connections_owner"))

    op.drop_table("local_connections")
    with op.batch_alter_table("tool_catalogues", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_catalogues_owner"))

    op.drop_table("tool_catalogues")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_calls_user_id_at")
        batch_op.drop_index(batch_op.f("ix_tool_calls_at"))

    op.drop_table("tool_calls")
