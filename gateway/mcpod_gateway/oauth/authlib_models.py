"""The gateway's rows as authlib's core sees them (its client, code and token mixins)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from ..models import OAuthAuthorizationCode, OAuthClient, OAuthToken
from ..models.base import utcnow
from .redirects import redirect_uri_allowed
from .resource import DEFAULT_SCOPE, SCOPES_SUPPORTED


class ClientModel(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        assert row.id is not None
        self.pk: int = row.id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the request must name its redirect_uri (OAuth 2.1)

    def get_allowed_scope(self, scope: str | None) -> str:
        # Unknown scopes are dropped rather than refused: clients ask for every
        # scope they have heard of, and the grant shows what was issued.
        wanted = [s for s in (scope or "").split() if s in SCOPES_SUPPORTED]
        return " ".join(dict.fromkeys(wanted)) or DEFAULT_SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_allowed(list(self.row.redirect_uris), redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # public clients only

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class CodeModel(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


class TokenModel(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthToken) -> None:
        self.row = row

    def check_client(self, client: ClientModel) -> bool:
        return self.row.client_pk == client.pk

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.access_expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.access_expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def get_user(self) -> str:
        return self.row.user_id

    def get_client(self) -> Any:
        return None
