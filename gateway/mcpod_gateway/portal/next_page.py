"""Where to go after signing in: only our own portal pages, never an open redirect."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

DEFAULT_PAGE: Final = "/connections"
_LOCAL_PAGE: Final = re.compile(r"^/[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


def safe_next_page(value: str | None) -> str:
    """``value`` if it is a plain local path like ``/tokens``, else the default page."""
    if value and len(value) <= 200 and _LOCAL_PAGE.fullmatch(value):
        return value
    return DEFAULT_PAGE


# Endpoints that are not pages themselves, and the page that calls them.
_CALLING_PAGE: Final = {"webauthn": "account"}


def reauthentication_url(path: str) -> str:
    """The sign-in page that brings the person back to the page ``path`` belongs to."""
    first = path.strip("/").split("/", 1)[0]
    first = _CALLING_PAGE.get(first, first)
    return f"/signin?reauth=1&next={quote(safe_next_page('/' + first))}"
