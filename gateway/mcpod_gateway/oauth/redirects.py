"""Which redirect URIs a client may register, and whether a request's URI matches one.

Matching is exact string comparison with one exception, loopback redirects
(RFC 8252 §7.3): ``http://localhost``, ``http://127.0.0.1`` and ``http://[::1]``
match on any port, scheme, host, path and query otherwise exact.  Native clients
(Claude Code, VS Code, Copilot CLI) pick a free port at run time and register or
publish the URI with another port or none at all.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import SplitResult, urlsplit

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
MAX_REDIRECT_URI_LENGTH: Final = 2000
# Never a redirect target: script and local-content schemes, and web schemes a
# browser would treat as navigation to someone else's content.
_FORBIDDEN_SCHEMES: Final = frozenset(
    {"javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp", "ws", "wss"}
)
# Private-use schemes (RFC 8252 §7.1) such as cursor:// or vscode://.
_PRIVATE_SCHEME: Final = re.compile(r"^[a-z][a-z0-9+.-]{1,63}$")
_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f]")


class RedirectUriError(ValueError):
    """A redirect URI that may not be registered, with the reason."""


def _split(uri: str) -> SplitResult:
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise RedirectUriError(f"redirect URI longer than {MAX_REDIRECT_URI_LENGTH} characters")
    if _CONTROL_OR_SPACE.search(uri):
        raise RedirectUriError("redirect URI contains spaces or control characters")
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise RedirectUriError(f"redirect URI is not a valid URI: {uri!r}") from None
    return parts


def is_loopback(parts: SplitResult) -> bool:
    return parts.scheme == "http" and _host(parts) in LOOPBACK_HOSTS


def _host(parts: SplitResult) -> str:
    # netloc without userinfo and port, keeping IPv6 brackets (hostname drops them).
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    return host.partition(":")[0].lower()


def check_redirect_uri(uri: str) -> str:
    """Return ``uri`` if it may be registered, else raise RedirectUriError.

    Allowed: https URLs; http only on loopback; private-use schemes.  No
    fragments (RFC 6749 §3.1.2), no user info.
    """
    parts = _split(uri)
    scheme = parts.scheme
    if not scheme:
        raise RedirectUriError(f"redirect URI must be absolute: {uri!r}")
    if scheme != scheme.lower():
        raise RedirectUriError(f"redirect URI scheme must be lowercase: {uri!r}")
    if parts.fragment or "#" in uri:
        raise RedirectUriError(f"redirect URI must not contain a fragment: {uri!r}")
    if "@" in parts.netloc:
        raise RedirectUriError(f"redirect URI must not contain user information: {uri!r}")
    if scheme in _FORBIDDEN_SCHEMES:
        raise RedirectUriError(f"redirect URI scheme {scheme!r} is not allowed")
    if scheme == "https":
        if not parts.hostname:
            raise RedirectUriError(f"https redirect URI needs a host: {uri!r}")
        return uri
    if scheme == "http":
        if not is_loopback(parts):
            raise RedirectUriError(
                "http redirect URIs are allowed only on localhost, 127.0.0.1 or [::1]; "
                f"use https: {uri!r}"
            )
        return uri
    if not _PRIVATE_SCHEME.fullmatch(scheme):
        raise RedirectUriError(f"redirect URI scheme {scheme!r} is not allowed")
    if not (parts.netloc or parts.path):
        raise RedirectUriError(f"redirect URI has nothing after its scheme: {uri!r}")
    return uri


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, or loopback with any port (RFC 8252 §7.3)."""
    if requested == registered:
        return True
    try:
        want, got = _split(registered), _split(requested)
    except RedirectUriError:
        return False
    if not (is_loopback(want) and is_loopback(got)):
        return False
    return (
        _host(want) == _host(got)
        and (want.path or "/") == (got.path or "/")
        and want.query == got.query
        and not got.fragment
        and "#" not in requested
        and "@" not in got.netloc
    )


def redirect_uri_allowed(registered: list[str], requested: str) -> bool:
    return any(redirect_uri_matches(uri, requested) for uri in registered)


def display_host(uri: str) -> str:
    """What the consent page shows as the redirect's destination."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.scheme in ("http", "https"):
        return parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
