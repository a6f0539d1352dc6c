"""Recording account and administrative actions in ``admin_events``."""

from __future__ import annotations

from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from .models import AdminEvent

CLI_ACTOR: Final = "cli"


def record_admin_event(
    db: AsyncSession, *, actor: str, action: str, target_user_id: str | None, detail: str = ""
) -> None:
    """Add an audit row to the session (committed with the action it describes)."""
    db.add(
        AdminEvent(actor=actor, action=action, target_user_id=target_user_id, detail=detail[:256])
    )
