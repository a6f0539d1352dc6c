"""CORS for the endpoints browser-based clients call (metadata, register, token, revoke).

``Access-Control-Allow-Origin: *`` and never credentials: these endpoints take
no cookies, so a page on any origin gains nothing it could not get with curl.
``/authorize`` is a top-level navigation and gets no CORS at all.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

PUBLIC_CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "WWW-Authenticate",
}
_PREFLIGHT_HEADERS: Final = {
    **PUBLIC_CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Mcp-Protocol-Version",
    "Access-Control-Max-Age": "600",
}


def with_public_cors(response: Response) -> Response:
    response.headers.update(PUBLIC_CORS_HEADERS)
    return response


def preflight() -> Response:
    return Response(status_code=204, headers=_PREFLIGHT_HEADERS)
