"""Tool names as agents see them: ``<slug>__<tool>`` (pure).

Names match ``^[A-Za-z0-9_-]{1,64}$``.  A slug never contains ``_`` (it is
``^[a-z][a-z0-9-]{0,21}$``), so the first ``__`` always ends the slug.
"""

from __future__ import annotations

import re
from typing import Final

from mcpod_common.vocabulary import is_valid_slug

SEPARATOR: Final = "__"
MAX_TOOL_NAME: Final = 64
TOOL_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LIST_CONNECTIONS: Final = "list_connections"
UNAVAILABLE_MARKER: Final = "connection_unavailable"


def qualified_name(slug: str, tool: str) -> str | None:
    """``slug__tool``, or None when that would not be a valid tool name (too long, odd chars)."""
    name = f"{slug}{SEPARATOR}{tool}"
    return name if TOOL_NAME.fullmatch(name) else None


def split_name(name: str) -> tuple[str, str] | None:
    """(slug, tool) for a well-formed qualified name; None for anything else.

    Strict on purpose: no case folding, no normalisation, no trimming — a name
    that is not byte-for-byte one the gateway listed is simply unknown.
    """
    if not TOOL_NAME.fullmatch(name):
        return None
    slug, sep, tool = name.partition(SEPARATOR)
    if not sep or not tool or not is_valid_slug(slug):
        return None
    return slug, tool
