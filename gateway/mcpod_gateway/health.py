"""Liveness and readiness probes (no authentication, no secrets)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import JSONResponse

from .db import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def read_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def read_readiness(db: SessionDep) -> dict[str, str] | JSONResponse:
    try:
        await db.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:  # any database failure means "not ready"
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return {"status": "ok"}
