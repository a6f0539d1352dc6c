"""Client names as shown on the consent page and in the portal."""

from __future__ import annotations

import unicodedata
from typing import Any, Final

from ..models.oauth import CLIENT_NAME_MAX

_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})


class ClientNameError(ValueError):
    pass


def clean_client_name(value: Any) -> str:
    """A client name: 1 to 100 visible characters, no control or invisible formatting characters.

    Names are chosen by whoever registers a client, so they are treated as
    untrusted: the consent page also shows the hosts, which a name cannot fake.
    """
    if not isinstance(value, str):
        raise ClientNameError("client_name is required and must be a string")
    name = " ".join(value.split())
    if not name:
        raise ClientNameError("client_name must not be empty")
    if len(name) > CLIENT_NAME_MAX:
        raise ClientNameError(f"client_name must be at most {CLIENT_NAME_MAX} characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ClientNameError("client_name contains control or invisible characters")
    return name
