"""Dynamic client registration (``POST /register``, RFC 7591): public clients only.

Kept as the fallback for clients that do not use client ID metadata documents
(older Claude Code, Cursor, VS Code without CIMD).  Open but bounded: rate
limited per address, a cap on registered clients, a small body, validated
metadata.  Every registered client is public (``token_endpoint_auth_method``
``none``, no secret): a client that asks for a secret-based method gets
``none`` back, which RFC 7591 §3.2.1 allows and which every MCP client
handles.  The real-world redirect shapes pass: loopback on any port, https,
and private-use schemes such as ``cursor://``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ..auth.rate_limit import client_address
from ..db import SessionDep
from . import store
from .body import BodyError, oauth_error, read_json_body
from .cimd import ClientMetadataError, check_redirect_uri_list
from .cors import preflight, with_public_cors
from .metadata import REGISTER_PATH
from .names import ClientNameError, clean_client_name
from .resource import DEFAULT_SCOPE
from .runtime import RuntimeDep, rate_limit

MAX_REGISTRATION_BYTES: Final = 8 * 1024
DEFAULT_CLIENT_NAME: Final = "Unnamed MCP client"
_ALLOWED_GRANTS: Final = frozenset({"authorization_code", "refresh_token"})

router = APIRouter(tags=["oauth"])


class RegistrationError(ValueError):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Registration:
    client_name: str
    redirect_uris: tuple[str, ...]


def parse_registration(body: Any) -> Registration:
    """Validate RFC 7591 client metadata; raise RegistrationError with the RFC's error code."""
    if not isinstance(body, dict):
        raise RegistrationError("invalid_client_metadata", "body must be a JSON object")
    try:
        redirect_uris = check_redirect_uri_list(body.get("redirect_uris"))
    except ClientMetadataError as exc:
        raise RegistrationError("invalid_redirect_uri", str(exc)) from None
    raw_name = body.get("client_name", DEFAULT_CLIENT_NAME)
    try:
        name = clean_client_name(raw_name)
    except ClientNameError as exc:
        raise RegistrationError("invalid_client_metadata", str(exc)) from None
    grants = body.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not grants or not set(grants) <= _ALLOWED_GRANTS:
        raise RegistrationError(
            "invalid_client_metadata",
            "grant_types may only list authorization_code and refresh_token",
        )
    responses = body.get("response_types", ["code"])
    if responses != ["code"]:
        raise RegistrationError("invalid_client_metadata", 'response_types must be ["code"]')
    return Registration(client_name=name, redirect_uris=redirect_uris)


@router.post(REGISTER_PATH)
async def register_client(request: Request, db: SessionDep, runtime: RuntimeDep) -> Response:
    rate_limit(request, runtime.registration_limiter, "client registration")
    try:
        raw = await read_json_body(request, MAX_REGISTRATION_BYTES)
    except BodyError as exc:
        return with_public_cors(exc.response)
    try:
        body = json.loads(raw)
        registration = parse_registration(body)
    except ValueError as exc:
        if isinstance(exc, RegistrationError):
            return with_public_cors(oauth_error(exc.error, exc.description))
        return with_public_cors(oauth_error("invalid_client_metadata", "body is not valid JSON"))
    if await store.count_registered_clients(db) >= runtime.max_clients:
        return with_public_cors(
            oauth_error(
                "temporarily_unavailable",
                "this server holds the maximum number of registered clients",
                status_code=503,
            )
        )
    client = await store.create_registered_client(
        db,
        client_name=registration.client_name,
        redirect_uris=list(registration.redirect_uris),
        registered_from=client_address(request),
    )
    await db.commit()
    answer = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.client_name,
        "redirect_uris": list(registration.redirect_uris),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": DEFAULT_SCOPE,
    }
    response = JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})
    return with_public_cors(response)


@router.options(REGISTER_PATH)
async def preflight_register() -> Response:
    return preflight()
