"""Discovery documents: RFC 9728 protected-resource metadata and RFC 8414 server metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from ..auth.sessions import SettingsDep
from ..settings import Settings
from .cors import preflight, with_public_cors
from .resource import (
    PRM_PATH,
    PRM_PATH_FOR_MCP,
    SCOPES_SUPPORTED,
    issuer,
    protected_resource_metadata,
)

AS_METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105 (a path, not a secret)
REGISTER_PATH = "/register"
REVOKE_PATH = "/revoke"

router = APIRouter(tags=["oauth"])


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 8414 metadata.

    CIMD-capable clients (Claude Code, VS Code) use a metadata-document
    ``client_id`` only when both ``client_id_metadata_document_supported`` and
    ``"none"`` among the token endpoint auth methods are advertised; otherwise
    they fall back to registration.
    """
    base = issuer(settings)
    return {
        "issuer": base,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "registration_endpoint": base + REGISTER_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
    }


def _json(body: dict[str, Any]) -> Response:
    response = JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})
    return with_public_cors(response)


@router.get(PRM_PATH_FOR_MCP)
@router.get(PRM_PATH)
async def read_protected_resource_metadata(settings: SettingsDep) -> Response:
    return _json(protected_resource_metadata(settings))


@router.get(AS_METADATA_PATH)
async def read_authorization_server_metadata(settings: SettingsDep) -> Response:
    return _json(authorization_server_metadata(settings))


@router.options(PRM_PATH_FOR_MCP)
@router.options(PRM_PATH)
@router.options(AS_METADATA_PATH)
async def preflight_metadata() -> Response:
    return preflight()
