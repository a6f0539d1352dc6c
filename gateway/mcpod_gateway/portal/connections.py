"""Placeholder for the connections page; the /mcp feature replaces this module's router."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser
from ..templating import render

router = APIRouter(prefix="/connections", dependencies=[CsrfProtected], tags=["portal"])


@router.get("")
async def read_connections(request: Request, user: CurrentUser) -> Response:
    return render(request, "connections.html")
