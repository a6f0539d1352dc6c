"""Pure pieces of the consent step: what the page shows, its CSP, and its request binding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .redirects import LOOPBACK_HOSTS, display_host

_CSP_SOURCE = re.compile(r"^[a-z][a-z0-9+.-]*:(//[A-Za-z0-9.\-]+(:[0-9]{1,5})?)?$")

SCOPE_DESCRIPTIONS = {
    "mcp": "Use your mcpod connections (Azure DevOps tools) through /mcp, as you",
}


@dataclass(frozen=True)
class ConsentView:
    client_name: str
    client_host: str | None  # the metadata document's host (CIMD); None for registered clients
    self_registered: bool
    redirect_host: str
    redirect_is_loopback: bool
    scopes: tuple[tuple[str, str], ...]
    resource: str


def consent_view(
    *,
    client_name: str,
    client_id: str,
    kind: str,
    redirect_uri: str,
    scope: str,
    resource: str,
) -> ConsentView:
    parts = urlsplit(redirect_uri)
    host = parts.netloc.rpartition("@")[2]
    bare = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
    return ConsentView(
        client_name=client_name,
        client_host=urlsplit(client_id).netloc if kind == "cimd" else None,
        self_registered=kind != "cimd",
        redirect_host=display_host(redirect_uri),
        redirect_is_loopback=parts.scheme == "http" and bare.lower() in LOOPBACK_HOSTS,
        scopes=tuple((s, SCOPE_DESCRIPTIONS.get(s, s)) for s in scope.split()),
        resource=resource,
    )


def form_action_source(redirect_uri: str) -> str:
    """The CSP source that lets the consent form's 303 reach the client's redirect URI.

    Browsers apply ``form-action`` to redirects that follow a form submission,
    so the page must allow exactly the (already validated) redirect origin.
    """
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        source = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    else:
        source = f"{parts.scheme}:"
    # Never let a registered URI write CSP syntax (";", quotes, spaces) into the header.
    return source if _CSP_SOURCE.fullmatch(source) else "'none'"


def consent_page_csp(redirect_uri: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self' {form_action_source(redirect_uri)}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def consent_binding(secret: bytes, session_token: str, params: Sequence[tuple[str, str]]) -> str:
    """A MAC over the authorization request and the browser session.

    The consent form carries the original request as hidden fields; this value
    proves the POST approves exactly the request this session was shown, on
    top of the portal's CSRF token.
    """
    message = hashlib.sha256()
    message.update(b"oauth-consent\x00" + session_token.encode() + b"\x00")
    for key, value in sorted(params):
        message.update(key.encode() + b"=" + value.encode() + b"\x00")
    mac = hmac.new(secret, message.digest(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
