"""Client ID Metadata Documents: which ``client_id`` values are document URLs, and
what a valid document looks like (draft-ietf-oauth-client-id-metadata-document).

Pure checks; fetching is in :mod:`.cimd_fetch`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from .names import ClientNameError, clean_client_name
from .redirects import RedirectUriError, check_redirect_uri

MAX_CLIENT_ID_URL_LENGTH: Final = 2048
MAX_REDIRECT_URIS: Final = 10
# Only public clients: a document may not claim a secret-based or key-based method.
_ALLOWED_AUTH_METHODS: Final = frozenset({"none"})
_ALLOWED_GRANTS: Final = frozenset({"authorization_code", "refresh_token"})


class ClientMetadataError(ValueError):
    """A client metadata document (or its URL) that cannot be used, with the reason."""


def is_client_id_url(client_id: str) -> bool:
    """Whether the client identifies itself by a metadata document URL (https with a path)."""
    return client_id.startswith("https://")


def check_client_id_url(client_id: str) -> str:
    """Return the URL if it is a usable client ID, else raise ClientMetadataError.

    https, a host, a path other than ``/``, no fragment, no user info, no dot
    segments; the document's ``client_id`` must later equal it exactly.
    """
    if len(client_id) > MAX_CLIENT_ID_URL_LENGTH:
        raise ClientMetadataError("client_id URL is too long")
    try:
        parts = urlsplit(client_id)
        port = parts.port
    except ValueError:
        raise ClientMetadataError("client_id is not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ClientMetadataError("client_id URL must be https with a host")
    if "@" in parts.netloc:
        raise ClientMetadataError("client_id URL must not contain user information")
    if parts.fragment or "#" in client_id:
        raise ClientMetadataError("client_id URL must not contain a fragment")
    if parts.path in ("", "/"):
        raise ClientMetadataError("client_id URL must have a path")
    segments = parts.path.split("/")
    if "." in segments or ".." in segments:
        raise ClientMetadataError("client_id URL must not contain dot segments")
    if port == 0:
        raise ClientMetadataError("client_id URL has an invalid port")
    return client_id


@dataclass(frozen=True)
class ClientMetadata:
    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]


def parse_client_metadata(client_id: str, raw: bytes) -> ClientMetadata:
    """Validate a fetched document for ``client_id``; raise ClientMetadataError."""
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ClientMetadataError("client metadata document is not JSON") from None
    if not isinstance(document, dict):
        raise ClientMetadataError("client metadata document is not a JSON object")
    if document.get("client_id") != client_id:
        raise ClientMetadataError(
            "client metadata document's client_id does not equal the URL it was fetched from"
        )
    for forbidden in ("client_secret", "client_secret_expires_at"):
        if forbidden in document:
            raise ClientMetadataError(f"client metadata document must not contain {forbidden}")
    method = document.get("token_endpoint_auth_method", "none")
    if method not in _ALLOWED_AUTH_METHODS:
        raise ClientMetadataError(
            f"token_endpoint_auth_method {method!r} is not supported (public clients only: 'none')"
        )
    grants = document.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not set(grants) <= _ALLOWED_GRANTS:
        raise ClientMetadataError("grant_types may only list authorization_code and refresh_token")
    try:
        name = clean_client_name(document.get("client_name"))
    except ClientNameError as exc:
        raise ClientMetadataError(str(exc)) from None
    return ClientMetadata(client_id, name, check_redirect_uri_list(document.get("redirect_uris")))


def check_redirect_uri_list(value: Any) -> tuple[str, ...]:
    """A non-empty list of allowed redirect URIs (shared by CIMD and registration)."""
    if not isinstance(value, list) or not value:
        raise ClientMetadataError("redirect_uris must be a non-empty list")
    if len(value) > MAX_REDIRECT_URIS:
        raise ClientMetadataError(f"redirect_uris may hold at most {MAX_REDIRECT_URIS} URIs")
    uris: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ClientMetadataError("redirect_uris must hold strings")
        try:
            uris.append(check_redirect_uri(item))
        except RedirectUriError as exc:
            raise ClientMetadataError(str(exc)) from None
    return tuple(dict.fromkeys(uris))
