"""The activity page: the signed-in user's own tool calls (the ``/mcp`` audit), newest first,
paged.  Rows older than ``MCPOD_AUDIT_RETENTION_DAYS`` are removed by the /mcp feature."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..audit import page_for_user
from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser
from ..db import SessionDep
from ..templating import render

router = APIRouter(prefix="/activity", dependencies=[CsrfProtected], tags=["portal"])

PER_PAGE: Final = 50
MAX_PAGE: Final = 10_000


def parse_page(value: str | None) -> int:
    """A 1-based page number; anything else (text, 0, huge) falls back to page 1."""
    if value is None or not value.isdigit():
        return 1
    return min(max(int(value), 1), MAX_PAGE)


@router.get("")
async def read_activity(request: Request, user: CurrentUser, db: SessionDep) -> Response:
    page = parse_page(request.query_params.get("page"))
    rows, more = await page_for_user(db, user_id=user.id, page=page, per_page=PER_PAGE)
    retention = request.app.state.mcp_settings.audit_retention_days
    return render(
        request,
        "activity.html",
        {"rows": rows, "page": page, "more": more, "retention_days": retention},
    )
