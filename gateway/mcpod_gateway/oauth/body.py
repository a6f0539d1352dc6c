"""Reading OAuth request bodies with a size cap and a clear error for the wrong type."""

from __future__ import annotations

from typing import Final

from fastapi import Request
from starlette.responses import JSONResponse, Response

MAX_FORM_BYTES: Final = 16 * 1024
FORM_TYPE: Final = "application/x-www-form-urlencoded"


class BodyError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _check_size(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise BodyError(oauth_error("invalid_request", f"body larger than {MAX_FORM_BYTES} bytes"))


async def read_form_pairs(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as (name, value) pairs, or BodyError with an OAuth error."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise BodyError(oauth_error("invalid_request", f"Content-Type must be {FORM_TYPE}"))
    _check_size(request)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BodyError(oauth_error("invalid_request", f"body larger than {MAX_FORM_BYTES} bytes"))
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


async def read_json_body(request: Request, max_bytes: int) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise BodyError(
            oauth_error("invalid_client_metadata", "Content-Type must be application/json")
        )
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_bytes):
        raise BodyError(
            oauth_error("invalid_client_metadata", f"body larger than {max_bytes} bytes")
        )
    raw = await request.body()
    if len(raw) > max_bytes:
        raise BodyError(
            oauth_error("invalid_client_metadata", f"body larger than {max_bytes} bytes")
        )
    return raw
