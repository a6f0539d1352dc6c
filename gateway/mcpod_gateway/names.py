"""Validation of the free-text names people type: display names, passkey and token names."""

from __future__ import annotations

import unicodedata
from typing import Final

NAME_MAX: Final = 64
# Control characters, format characters (zero-width, bidi overrides) and line/paragraph separators.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MARKUP: Final = frozenset("<>")


class InvalidNameError(ValueError):
    """The message is shown to the person as is."""


def clean_name(value: object, *, what: str, max_length: int = NAME_MAX) -> str:
    """Return the trimmed, NFC-normalised name, or raise InvalidNameError saying what is wrong."""
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be text")
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > max_length:
        raise InvalidNameError(f"{what} must be at most {max_length} characters (got {len(name)})")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise InvalidNameError(
            f"{what} must not contain control or invisible formatting characters"
        )
    if any(ch in _MARKUP for ch in name):
        raise InvalidNameError(f"{what} must not contain < or >")
    return name
