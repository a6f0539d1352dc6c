"""The connections page: create, list with live status, edit, rotate the PAT, suspend/resume,
delete.  A PAT is accepted here and never shown again, not even after a failed form.

Every action goes through the configured ConnectionBackend with the signed-in
user as owner, and is recorded in ``admin_events``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, HTTPException, Request
from mcpod_common.tool_filter import READ_ONLY_TOOLS
from mcpod_common.vocabulary import DOMAINS, is_valid_slug
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..admin_audit import record_admin_event
from ..auth.csrf import CsrfProtected
from ..auth.sessions import CurrentUser, SettingsDep
from ..connections.backend import ConnectionBackend
from ..connections.model import (
    ConnectionNotFoundError,
    ConnectionProblemError,
    ConnectionSpec,
    ConnectionView,
)
from ..connections.validation import ConnectionInputError, build_spec, check_pat
from ..db import SessionDep
from ..templating import render

router = APIRouter(prefix="/connections", dependencies=[CsrfProtected], tags=["portal"])

FORM_MAX: Final = 4096
Text = Annotated[str, Form(max_length=FORM_MAX)]


def _backend(request: Request) -> ConnectionBackend:
    backend: ConnectionBackend = request.app.state.connection_backend
    return backend


def _status(view: ConnectionView) -> dict[str, Any]:
    return {
        "slug": view.slug,
        "phase": str(view.phase),
        "message": view.message,
        "lastActive": view.last_activity.isoformat() if view.last_activity else None,
    }


def _form_values(spec: ConnectionSpec | None = None, **raw: Any) -> dict[str, Any]:
    """What the form shows: a spec's values, or what the person typed (never the PAT)."""
    if spec is not None:
        return {
            "slug": spec.slug,
            "organization": spec.organization,
            "domains": list(spec.domains),
            "read_only": spec.read_only,
            "tools_allow": ", ".join(spec.tools_allow),
            "tools_deny": ", ".join(spec.tools_deny),
            "default_project": spec.default_project,
            "default_team": spec.default_team,
            "idle_timeout": spec.idle_timeout,
        }
    return {
        "slug": "",
        "organization": "",
        "domains": [],
        "read_only": False,
        "tools_allow": "",
        "tools_deny": "",
        "default_project": "",
        "default_team": "",
        "idle_timeout": "",
        **raw,
    }


async def _list_page(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    *,
    problems: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    views = await _backend(request).list_connections(user.id)
    return render(
        request,
        "connections.html",
        {
            "connections": views,
            "domains": DOMAINS,
            "read_only_tools": sorted(READ_ONLY_TOOLS),
            "problems": problems or {},
            "form": form or _form_values(),
            "error": error,
            "mcp_url": f"{settings.public_url}/mcp",
        },
        status_code=status_code,
        no_store=True,
    )


def _slug_or_404(slug: str) -> str:
    if not is_valid_slug(slug):
        raise HTTPException(404, "no such connection")
    return slug


async def _view_or_404(request: Request, user_id: str, slug: str) -> ConnectionView:
    try:
        return await _backend(request).get_connection(user_id, _slug_or_404(slug))
    except ConnectionNotFoundError:
        raise HTTPException(404, "no such connection") from None


@router.get("")
async def read_connections(request: Request, user: CurrentUser, settings: SettingsDep) -> Response:
    return await _list_page(request, user, settings)


@router.get("/status")
async def read_connection_status(request: Request, user: CurrentUser) -> Response:
    views = await _backend(request).list_connections(user.id)
    return JSONResponse({"connections": [_status(v) for v in views]})


@router.post("")
async def create_connection(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    db: SessionDep,
    slug: Text = "",
    organization: Text = "",
    pat: Text = "",
    domains: Annotated[list[str] | None, Form(max_length=64)] = None,
    read_only: Annotated[str, Form(max_length=8)] = "",
    tools_allow: Text = "",
    tools_deny: Text = "",
    default_project: Text = "",
    default_team: Text = "",
    idle_timeout: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    raw: dict[str, Any] = {
        "slug": slug[:64],
        "organization": organization[:64],
        "domains": [d for d in (domains or []) if d in DOMAINS],
        "read_only": bool(read_only),
        "tools_allow": tools_allow[:512],
        "tools_deny": tools_deny[:512],
        "default_project": default_project[:128],
        "default_team": default_team[:128],
        "idle_timeout": idle_timeout[:32],
    }
    problems: dict[str, str] = {}
    spec: ConnectionSpec | None = None
    try:
        spec = build_spec(
            slug=slug,
            organization=organization,
            domains=domains or [],
            read_only=bool(read_only),
            tools_allow=tools_allow,
            tools_deny=tools_deny,
            default_project=default_project,
            default_team=default_team,
            idle_timeout=idle_timeout,
        )
    except ConnectionInputError as exc:
        problems.update(exc.problems)
    if (why := check_pat(pat.strip())) is not None:
        problems["pat"] = why
    if problems or spec is None:
        return await _list_page(
            request, user, settings, problems=problems, form=_form_values(**raw), status_code=400
        )
    try:
        await _backend(request).create_connection(user.id, spec, pat.strip())
    except ConnectionProblemError as exc:
        return await _list_page(
            request, user, settings, error=str(exc), form=_form_values(**raw), status_code=400
        )
    record_admin_event(
        db, actor=user.id, action="connection.create", target_user_id=user.id, detail=spec.slug
    )
    await db.commit()
    return RedirectResponse("/connections", status_code=303)


async def _edit_page(
    request: Request,
    view: ConnectionView,
    *,
    problems: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "connection_edit.html",
        {
            "connection": view,
            "domains": DOMAINS,
            "problems": problems or {},
            "form": form or _form_values(view.spec),
            "error": error,
            "notice": notice,
        },
        status_code=status_code,
        no_store=True,
    )


@router.get("/{slug}")
async def read_connection(slug: str, request: Request, user: CurrentUser) -> Response:
    view = await _view_or_404(request, user.id, slug)
    return await _edit_page(request, view)


@router.post("/{slug}")
async def update_connection(
    slug: str,
    request: Request,
    user: CurrentUser,
    db: SessionDep,
    organization: Text = "",
    domains: Annotated[list[str] | None, Form(max_length=64)] = None,
    read_only: Annotated[str, Form(max_length=8)] = "",
    tools_allow: Text = "",
    tools_deny: Text = "",
    default_project: Text = "",
    default_team: Text = "",
    idle_timeout: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    view = await _view_or_404(request, user.id, slug)
    try:
        spec = build_spec(
            slug=view.slug,
            organization=organization,
            domains=domains or [],
            read_only=bool(read_only),
            tools_allow=tools_allow,
            tools_deny=tools_deny,
            default_project=default_project,
            default_team=default_team,
            idle_timeout=idle_timeout,
            suspended=view.spec.suspended,
        )
    except ConnectionInputError as exc:
        raw = _form_values(
            slug=view.slug,
            organization=organization[:64],
            domains=[d for d in (domains or []) if d in DOMAINS],
            read_only=bool(read_only),
            tools_allow=tools_allow[:512],
            tools_deny=tools_deny[:512],
            default_project=default_project[:128],
            default_team=default_team[:128],
            idle_timeout=idle_timeout[:32],
        )
        return await _edit_page(request, view, problems=exc.problems, form=raw, status_code=400)
    try:
        await _backend(request).update_connection(user.id, view.slug, spec)
    except ConnectionProblemError as exc:
        return await _edit_page(request, view, error=str(exc), status_code=400)
    record_admin_event(
        db, actor=user.id, action="connection.update", target_user_id=user.id, detail=view.slug
    )
    await db.commit()
    return RedirectResponse("/connections", status_code=303)


@router.post("/{slug}/pat")
async def rotate_pat(
    slug: str, request: Request, user: CurrentUser, db: SessionDep, pat: Text = ""
) -> Response:
    view = await _view_or_404(request, user.id, slug)
    if (why := check_pat(pat.strip())) is not None:
        return await _edit_page(request, view, problems={"pat": why}, status_code=400)
    try:
        await _backend(request).rotate_pat(user.id, view.slug, pat.strip())
    except ConnectionProblemError as exc:
        return await _edit_page(request, view, error=str(exc), status_code=400)
    record_admin_event(
        db, actor=user.id, action="connection.rotate", target_user_id=user.id, detail=view.slug
    )
    await db.commit()
    fresh = await _view_or_404(request, user.id, slug)
    return await _edit_page(
        request, fresh, notice="The new token is stored; the connection restarts with it."
    )


async def _set_suspended(
    request: Request, user_id: str, db: SessionDep, slug: str, suspended: bool
) -> Response:
    view = await _view_or_404(request, user_id, slug)
    spec = ConnectionSpec(**{**view.spec.__dict__, "suspended": suspended})
    try:
        await _backend(request).update_connection(user_id, view.slug, spec)
    except ConnectionProblemError as exc:
        return await _edit_page(request, view, error=str(exc), status_code=400)
    action = "connection.suspend" if suspended else "connection.resume"
    record_admin_event(db, actor=user_id, action=action, target_user_id=user_id, detail=view.slug)
    await db.commit()
    return RedirectResponse("/connections", status_code=303)


@router.post("/{slug}/suspend")
async def suspend_connection(
    slug: str, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    return await _set_suspended(request, user.id, db, slug, True)


@router.post("/{slug}/resume")
async def resume_connection(
    slug: str, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    return await _set_suspended(request, user.id, db, slug, False)


@router.post("/{slug}/delete")
async def delete_connection(
    slug: str, request: Request, user: CurrentUser, db: SessionDep
) -> Response:
    view = await _view_or_404(request, user.id, slug)
    try:
        await _backend(request).delete_connection(user.id, view.slug)
    except ConnectionNotFoundError:
        raise HTTPException(404, "no such connection") from None
    except ConnectionProblemError as exc:
        return await _edit_page(request, view, error=str(exc), status_code=400)
    await request.app.state.mcp.catalogue.forget(view.uid)
    record_admin_event(
        db, actor=user.id, action="connection.delete", target_user_id=user.id, detail=view.slug
    )
    await db.commit()
    return RedirectResponse("/connections", status_code=303)
