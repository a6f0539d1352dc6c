"""Cookie names and attributes.

On https the cookies carry the ``__Host-`` prefix (Secure, Path=/, no Domain),
which browsers enforce.  Browsers refuse ``Secure`` cookies over plain http, so
for the documented development exception, ``MCPOD_PUBLIC_URL=http://localhost…``,
the same cookies are set without the prefix and without ``Secure``.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from ..settings import Settings

SESSION: Final = "mcpod_session"
CEREMONY: Final = "mcpod_ceremony"  # binds a pending WebAuthn ceremony to this browser
CSRF_SEED: Final = "mcpod_csrf"


def cookie_name(settings: Settings, base: str) -> str:
    return f"__Host-{base}" if settings.secure_cookies else base


def set_cookie(
    response: Response, settings: Settings, base: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=max_age,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, settings: Settings, base: str) -> None:
    response.delete_cookie(
        cookie_name(settings, base),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
