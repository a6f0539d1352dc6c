"""Server-rendered pages: one Jinja environment, one shared layout (templates/base.html)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from .auth.csrf import csrf_token_for

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"

# Navigation of the signed-in layout: (path, label).  Other features' pages
# appear here by adding an entry.
NAVIGATION: Final = (
    ("/connections", "Connections"),
    ("/activity", "Activity"),
    ("/tokens", "Tokens"),
    ("/oauth/clients", "Agents"),
    ("/account", "Account"),
)


def create_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.globals["navigation"] = NAVIGATION
    return templates


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    no_store: bool = False,
) -> HTMLResponse:
    """Render a page with what every page needs: the user, the CSRF token, the path."""
    templates: Jinja2Templates = request.app.state.templates
    full = {
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token_for(request),
        "current_path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response
