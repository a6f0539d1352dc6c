"""The protected resource (``/mcp``) as OAuth sees it: its canonical URL and its challenges.

Pure builders, shared by the authorization server (which binds tokens to the
resource) and by ``/mcp`` (which must answer 401/403 with exactly these headers).
One canonical form everywhere: ``MCPOD_PUBLIC_URL`` + ``/mcp``, no trailing slash,
because clients compare the protected-resource metadata's ``resource`` with the
URL they connected to, string for string (RFC 9728 §3.3).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..settings import Settings

MCP_PATH: Final = "/mcp"
# One scope: full use of the caller's own connections.  Clients request every
# advertised scope by default, so a small list keeps consent readable.
SCOPE_MCP: Final = "mcp"
SCOPES_SUPPORTED: Final = (SCOPE_MCP,)
DEFAULT_SCOPE: Final = SCOPE_MCP
PRM_PATH: Final = "/.well-known/oauth-protected-resource"
PRM_PATH_FOR_MCP: Final = PRM_PATH + MCP_PATH


def issuer(settings: Settings) -> str:
    """The authorization server's issuer identifier (RFC 8414): the public origin."""
    return settings.public_url


def canonical_resource(settings: Settings) -> str:
    """The one resource tokens are issued for: ``https://HOST/mcp``."""
    return settings.public_url + MCP_PATH


def resource_metadata_url(settings: Settings) -> str:
    """Where the protected-resource metadata for ``/mcp`` lives (path-inserted, RFC 9728 §3.1)."""
    return settings.public_url + PRM_PATH_FOR_MCP


def normalize_resource(value: str) -> str | None:
    """A resource indicator in comparable form, or None if it is not an absolute URI.

    Scheme and host compare case-insensitively and a trailing slash is ignored
    (clients differ on both); a fragment is never allowed (RFC 8707 §2).
    """
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.fragment:
        return None
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def matches_resource(settings: Settings, requested: str) -> bool:
    return normalize_resource(requested) == normalize_resource(canonical_resource(settings))


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 9728 metadata for ``/mcp``."""
    return {
        "resource": canonical_resource(settings),
        "authorization_servers": [issuer(settings)],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "bearer_methods_supported": ["header"],
        "resource_name": "mcpod",
    }


def _quoted(value: str) -> str:
    # RFC 7235 quoted-string: escape backslash and double quote.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    public_url: str,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str = DEFAULT_SCOPE,
) -> str:
    """The ``WWW-Authenticate`` value for a 401 or 403 from ``/mcp``.

    - no credentials: no ``error`` (RFC 6750 §3.1);
    - bad, expired, revoked or foreign token: ``error="invalid_token"``;
    - valid token lacking a scope: ``error="insufficient_scope"`` with every
      scope needed (the client re-authorizes with the union).
    """
    metadata_url = public_url.rstrip("/") + PRM_PATH_FOR_MCP
    params = [f"resource_metadata={_quoted(metadata_url)}"]
    if scope:
        params.append(f"scope={_quoted(scope)}")
    if error:
        params.append(f"error={_quoted(error)}")
    if description:
        params.append(f"error_description={_quoted(description)}")
    return "Bearer " + ", ".join(params)


def www_authenticate(
    settings: Settings,
    *,
    error: str | None = None,
    description: str | None = None,
    scope: str = DEFAULT_SCOPE,
) -> str:
    return bearer_challenge(settings.public_url, error=error, description=description, scope=scope)


def unauthorized_headers(settings: Settings, *, token_was_sent: bool) -> dict[str, str]:
    """Headers for the 401 that ``/mcp`` returns without a usable token."""
    error = "invalid_token" if token_was_sent else None
    return {"WWW-Authenticate": www_authenticate(settings, error=error)}


def insufficient_scope_headers(settings: Settings, *, needed: str) -> dict[str, str]:
    """Headers for the 403 step-up answer: ``needed`` lists every scope required."""
    return {
        "WWW-Authenticate": www_authenticate(settings, error="insufficient_scope", scope=needed)
    }
