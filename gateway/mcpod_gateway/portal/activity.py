"""Placeholder for the activity page (tool-call audit); the /mcp feature replaces it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser
from ..templating import render

router = APIRouter(prefix="/activity", dependencies=[CsrfProtected], tags=["portal"])


@router.get("")
async def read_activity(request: Request, user: CurrentUser) -> Response:
    return render(request, "activity.html")
