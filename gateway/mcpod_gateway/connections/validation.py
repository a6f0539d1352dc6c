"""Checks for what people type when they create or edit a connection (pure, no I/O).

Every error names the field and says what is accepted; nothing is stored
unless everything passes.  The same rules as the CRD schema and the bridge,
from the shared vocabulary, so a value accepted here is never refused later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from mcpod_common.tool_filter import parse_tool_patterns
from mcpod_common.vocabulary import (
    DOMAINS,
    SLUG_PATTERN,
    is_valid_organization,
    is_valid_slug,
    parse_duration,
)

from .model import ConnectionSpec

# Reserved: the gateway's own tool and marker names must never collide with a slug's tools.
RESERVED_SLUGS: Final = frozenset({"list", "mcpod", "gateway"})
PAT_MIN: Final = 20
PAT_MAX: Final = 512
NAME_FIELD_MAX: Final = 128
IDLE_MIN_SECONDS: Final = 60
IDLE_MAX_SECONDS: Final = 7 * 24 * 3600
_PAT = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f<>]*$")


class ConnectionInputError(ValueError):
    """One or more fields are wrong; ``problems`` maps field → message shown to the person."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def check_slug(value: str) -> str | None:
    if not is_valid_slug(value):
        return (
            "1-22 characters: a lowercase letter first, then lowercase letters, digits or '-' "
            f"({SLUG_PATTERN})"
        )
    if value in RESERVED_SLUGS or "--" in value or value.endswith("-"):
        return "this name is reserved or ambiguous; choose another"
    return None


def check_pat(value: str) -> str | None:
    """Why a PAT is unusable, without ever echoing it."""
    if not value:
        return "the personal access token is required"
    if not _PAT.fullmatch(value):
        return "a personal access token has no spaces, line breaks or non-ASCII characters"
    if not PAT_MIN <= len(value) <= PAT_MAX:
        return f"a personal access token is {PAT_MIN}-{PAT_MAX} characters long"
    return None


def _domains(values: Iterable[str]) -> tuple[tuple[str, ...], str | None]:
    chosen = [v.strip() for v in values if v.strip()]
    bad = [v for v in chosen if v not in DOMAINS]
    if bad:
        return (), f"unknown domain(s) {', '.join(bad)}; known: {' '.join(DOMAINS)}"
    return tuple(d for d in DOMAINS if d in chosen), None


def _text(value: str, field: str, problems: dict[str, str]) -> str:
    text = value.strip()
    if len(text) > NAME_FIELD_MAX or not _PRINTABLE.fullmatch(text):
        problems[field] = f"at most {NAME_FIELD_MAX} characters, no control characters or < >"
    return text


def _idle(value: str, problems: dict[str, str]) -> str:
    text = value.strip()
    if not text:
        return ""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        problems["idle_timeout"] = str(exc)
        return ""
    if not IDLE_MIN_SECONDS <= seconds <= IDLE_MAX_SECONDS:
        problems["idle_timeout"] = "between 1m and 168h"
    return text


def _patterns(value: str, field: str, problems: dict[str, str]) -> tuple[str, ...]:
    try:
        return parse_tool_patterns(value)
    except ValueError as exc:
        problems[field] = str(exc)
        return ()


def build_spec(
    *,
    slug: str,
    organization: str,
    domains: Iterable[str] = (),
    read_only: bool = False,
    tools_allow: str = "",
    tools_deny: str = "",
    default_project: str = "",
    default_team: str = "",
    idle_timeout: str = "",
    suspended: bool = False,
) -> ConnectionSpec:
    """A checked ConnectionSpec, or ConnectionInputError listing every problem at once."""
    problems: dict[str, str] = {}
    slug = slug.strip()
    if (why := check_slug(slug)) is not None:
        problems["slug"] = why
    organization = organization.strip()
    if not is_valid_organization(organization):
        problems["organization"] = (
            "the Azure DevOps organization name: letters, digits and inner hyphens, at most 50 "
            "(the part after dev.azure.com/)"
        )
    chosen, why = _domains(domains)
    if why:
        problems["domains"] = why
    spec = ConnectionSpec(
        slug=slug,
        organization=organization,
        domains=chosen,
        read_only=read_only,
        tools_allow=_patterns(tools_allow, "tools_allow", problems),
        tools_deny=_patterns(tools_deny, "tools_deny", problems),
        default_project=_text(default_project, "default_project", problems),
        default_team=_text(default_team, "default_team", problems),
        idle_timeout=_idle(idle_timeout, problems),
        suspended=suspended,
    )
    if problems:
        raise ConnectionInputError(problems)
    return spec
