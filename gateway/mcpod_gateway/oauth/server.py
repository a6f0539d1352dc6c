"""The authorization server on authlib's core: grants, revocation, RFC 9207 ``iss``.

One :class:`GatewayAuthorizationServer` is built per request around that
request's database session (:class:`SyncStore`).  authlib calls its hooks
synchronously, so routes run the core in a worker thread
(:func:`run_oauth`) and the hooks hop back onto the event loop for each
database call with ``anyio.from_thread.run``; the route commits once at the
end, whatever the outcome, so a burnt code or a revoked family stays so even
when the response is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

import anyio.from_thread
import anyio.to_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models.base import utcnow
from ..settings import Settings
from . import store
from .authlib_models import ClientModel, CodeModel, TokenModel
from .pkce import S256CodeChallenge
from .requests import GatewayOAuth2Request, OAuth2Response, to_response
from .resource import (
    DEFAULT_SCOPE,
    SCOPES_SUPPORTED,
    canonical_resource,
    issuer,
    normalize_resource,
)
from .resource_binding import ResourceIndicator
from .tokens import generate_access_token, generate_refresh_token

P = ParamSpec("P")
T = TypeVar("T")

CODE_LIFETIME: Final = timedelta(seconds=120)
PUBLIC_CLIENT_METHODS: Final = ["none"]


@dataclass(frozen=True)
class ServerConfig:
    issuer: str
    resource: str
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    refresh_grace: timedelta
    code_lifetime: timedelta = CODE_LIFETIME

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerConfig:
        return cls(
            issuer=issuer(settings),
            resource=canonical_resource(settings),
            access_lifetime=timedelta(minutes=settings.oauth_access_token_minutes),
            refresh_lifetime=timedelta(days=settings.oauth_refresh_token_days),
            refresh_grace=timedelta(seconds=settings.oauth_refresh_grace_seconds),
        )


class SyncStore:
    """The request's async session, callable from authlib's worker thread."""

    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.revoked_families: list[str] = []  # for the access-token cache

    def run(
        self,
        fn: Callable[Concatenate[AsyncSession, P], Coroutine[Any, Any, T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return anyio.from_thread.run(functools.partial(fn, self.db, *args, **kwargs))


async def run_oauth(fn: Callable[[], T]) -> T:
    """Run a piece of the synchronous core off the event loop."""
    return await anyio.to_thread.run_sync(fn)


# ---- grants -------------------------------------------------------------------------


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: Final = PUBLIC_CLIENT_METHODS
    server: GatewayAuthorizationServer

    def save_authorization_code(self, code: str, request: GatewayOAuth2Request) -> None:
        data = request.payload.data
        cfg = self.server.config
        self.server.store.run(
            store.save_code,
            code=code,
            client_pk=request.client.pk,
            user_id=request.user,
            redirect_uri=data["redirect_uri"],
            scope=request.scope,
            resource=request.resource or cfg.resource,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            lifetime=cfg.code_lifetime,
        )

    def validate_token_request(self) -> None:
        # The resource is checked before the code is looked up (and so burnt).
        self.server.resource_indicator.requested(self.request)
        super().validate_token_request()
        self.server.resource_indicator.bind(
            self.request, self.request.authorization_code.row.resource
        )

    def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
        if not code or len(code) > 256:
            return None
        claim = self.server.store.run(store.claim_code, code=code, client_pk=client.pk)
        self.server.store.revoked_families.extend(claim.revoked_families)
        return CodeModel(claim.code) if claim.code is not None else None

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        pass  # kept, marked used, so a replay is recognised (claim_code)

    def authenticate_user(self, authorization_code: CodeModel) -> str:
        return authorization_code.row.user_id


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: Final = PUBLIC_CLIENT_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: public clients MUST get it
    server: GatewayAuthorizationServer

    def validate_token_request(self) -> None:
        # Checked before the refresh token is claimed, so a bad request does not rotate it.
        self.server.resource_indicator.requested(self.request)
        super().validate_token_request()
        self.server.resource_indicator.bind(self.request, self.request.refresh_token.row.resource)

    def _validate_token_scope(self, token: TokenModel) -> None:
        # Like at /authorize, scopes this server does not know are ignored; a known
        # scope that was not granted is still refused (no widening on refresh).
        requested = {s for s in (self.request.payload.scope or "").split() if s in SCOPES_SUPPORTED}
        if not requested <= set(token.get_scope().split()):
            raise InvalidScopeError("a refresh cannot add scopes that were not granted")

    def authenticate_refresh_token(self, refresh_token: str) -> TokenModel | None:
        client = self.request.client
        if not refresh_token or len(refresh_token) > 256 or client is None:
            return None
        outcome = self.server.store.run(
            store.use_refresh_token,
            refresh_token=refresh_token,
            client_pk=client.pk,
            grace=self.server.config.refresh_grace,
        )
        if outcome.reuse_detected and outcome.family_id:
            self.server.store.revoked_families.append(outcome.family_id)
        return TokenModel(outcome.token) if outcome.token is not None else None

    def authenticate_user(self, refresh_token: TokenModel) -> str:
        return refresh_token.row.user_id

    def revoke_old_credential(self, refresh_token: TokenModel) -> None:
        pass  # already marked rotated when it was claimed


class GatewayRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009.  Revoking either token of a grant revokes the whole family."""

    CLIENT_AUTH_METHODS: Final = PUBLIC_CLIENT_METHODS
    server: GatewayAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenModel | None:
        if not token_string or len(token_string) > 256:
            return None
        row = self.server.store.run(store.find_token, token=token_string)
        return TokenModel(row) if row is not None else None

    def revoke_token(self, token: TokenModel, request: GatewayOAuth2Request) -> None:
        self.server.store.run(store.revoke_family, family_id=token.row.family_id)
        self.server.store.revoked_families.append(token.row.family_id)


class GatewayIssuer(IssuerParameter):  # type: ignore[misc]
    def __init__(self, value: str) -> None:
        self.value = value

    def get_issuer(self) -> str:
        return self.value


# ---- the server -----------------------------------------------------------------------


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, config: ServerConfig, sync_store: SyncStore) -> None:
        super().__init__(scopes_supported=list(SCOPES_SUPPORTED))
        self.config = config
        self.store = sync_store
        self.issuer_parameter = GatewayIssuer(config.issuer)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: generate_access_token(),
                refresh_token_generator=lambda **_: generate_refresh_token(),
                expires_generator=lambda client, grant_type: int(
                    config.access_lifetime.total_seconds()
                ),
            ),
        )
        self.resource_indicator = ResourceIndicator(config.resource, self._matches_resource)
        self.register_grant(
            AuthorizationCodeGrant, [S256CodeChallenge(required=True), self.resource_indicator]
        )
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(GatewayRevocationEndpoint)
        self.register_extension(self.issuer_parameter)

    def _matches_resource(self, value: str) -> bool:
        return normalize_resource(value) == normalize_resource(self.config.resource)

    def query_client(self, client_id: str) -> ClientModel | None:
        row = self.store.run(store.get_client, client_id)
        return ClientModel(row) if row is not None else None

    def validate_requested_scope(self, scope: str | None) -> None:
        pass  # unknown scopes are dropped by ClientModel.get_allowed_scope

    def save_token(self, token: dict[str, Any], request: GatewayOAuth2Request) -> None:
        now = utcnow()
        code: CodeModel | None = request.authorization_code
        previous: TokenModel | None = request.refresh_token
        if code is not None:
            family_id = store.new_family_id()
            code_id = code.row.id
            refresh_expires_at = now + self.config.refresh_lifetime
        else:
            assert previous is not None
            family_id = previous.row.family_id
            code_id = previous.row.code_id
            # Absolute lifetime: rotation never moves the family's end.
            refresh_expires_at = previous.row.refresh_expires_at
        self.store.run(
            store.save_token,
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            family_id=family_id,
            client_pk=request.client.pk,
            user_id=request.user,
            code_id=code_id,
            scope=token.get("scope") or DEFAULT_SCOPE,
            resource=request.resource or self.config.resource,
            access_expires_at=now + self.config.access_lifetime,
            refresh_expires_at=refresh_expires_at,
        )

    def create_oauth2_request(self, request: GatewayOAuth2Request) -> GatewayOAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuth2Response:
        return to_response(status, body, headers)

    def handle_error_response(self, request: Any, error: Any) -> OAuth2Response:
        response: OAuth2Response = super().handle_error_response(request, error)
        # RFC 6749 §5.2 allows 401 for invalid_client; clients take it as
        # "register again", which is what a forgotten registration needs.
        if getattr(error, "error", None) == "invalid_client" and response.status_code == 400:
            response.status_code = 401
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def add_issuer(self, response: OAuth2Response) -> OAuth2Response:
        """RFC 9207 ``iss`` on a redirect built outside create_authorization_response."""
        self.issuer_parameter.add_issuer_parameter(self, response)
        return response
