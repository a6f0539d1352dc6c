"""The authorization endpoint (``/authorize``): validation, passkey sign-in, consent.

GET validates the request completely before anything else: an unknown client
or an unregistered redirect URI gets an error page (never a redirect to an
unvalidated URI); other errors go back to the client with ``error`` and
``iss``.  A valid request from someone not signed in shows the passkey
sign-in, which returns to the same URL.  A signed-in person who already
approved this client for these scopes gets a code at once; otherwise the
consent page.  The consent form POSTs back here (CSRF-protected, bound to the
request and the session) and is answered with 303 (RFC 9700 §4.12).
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..auth.csrf import CsrfProtected
from ..auth.sessions import OptionalUser, session_cookie
from ..db import SessionDep
from ..keys import Keys
from ..models import OAuthClient, User
from ..templating import render
from . import store
from .body import MAX_FORM_BYTES
from .cimd import ClientMetadataError, is_client_id_url
from .consent import consent_binding, consent_page_csp, consent_view
from .metadata import AUTHORIZE_PATH
from .requests import GatewayOAuth2Request, OAuth2Response
from .runtime import OAuthRuntime, RuntimeDep, rate_limit
from .server import GatewayAuthorizationServer, SyncStore, run_oauth

router = APIRouter(tags=["oauth"])

# Form fields of the consent form that are not part of the authorization request.
_CONSENT_FIELDS: Final = frozenset({"csrf_token", "consent_binding", "decision"})
MAX_PARAMETERS: Final = 30


def _error_page(request: Request, message: str, status_code: int = 400) -> Response:
    return render(
        request,
        "oauth_error.html",
        {"message": message, "status": status_code},
        status_code=status_code,
        no_store=True,
    )


def _see_other(response: OAuth2Response) -> OAuth2Response:
    if response.status_code == 302:
        response.status_code = 303
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(AUTHORIZE_PATH)
async def read_authorize(
    request: Request, db: SessionDep, runtime: RuntimeDep, user: OptionalUser
) -> Response:
    rate_limit(request, runtime.endpoint_limiter, "authorization", cors=False)
    params = list(request.query_params.multi_items())
    return await _authorize(request, db, runtime, user, params, decision=None)


@router.post(AUTHORIZE_PATH, dependencies=[CsrfProtected])
async def decide_authorize(
    request: Request, db: SessionDep, runtime: RuntimeDep, user: OptionalUser
) -> Response:
    rate_limit(request, runtime.endpoint_limiter, "authorization", cors=False)
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return _error_page(request, "The consent form is too large.", 413)
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    params = [(k, v) for k, v in fields if k not in _CONSENT_FIELDS]
    decision = str(form.get("decision", ""))
    if user is None:
        return _error_page(request, "Your session ended. Start again from your agent.", 401)
    keys: Keys = request.app.state.keys
    expected = consent_binding(keys.secret, session_cookie(request) or "", params)
    presented = str(form.get("consent_binding", ""))
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        return _error_page(
            request,
            "This approval does not match the request shown. Start again from your agent.",
            403,
        )
    if decision not in ("allow", "deny"):
        return _error_page(request, "Choose Allow or Deny.")
    return await _authorize(request, db, runtime, user, params, decision=decision)


async def _authorize(
    request: Request,
    db: SessionDep,
    runtime: OAuthRuntime,
    user: User | None,
    params: list[tuple[str, str]],
    *,
    decision: str | None,
) -> Response:
    if len(params) > MAX_PARAMETERS:
        return _error_page(request, "The authorization request has too many parameters.")
    client_ids = [value for key, value in params if key == "client_id"]
    if len(client_ids) != 1 or not client_ids[0]:
        return _error_page(request, "The authorization request must name exactly one client_id.")
    client_id = client_ids[0]
    if is_client_id_url(client_id):
        try:
            metadata = await runtime.fetcher.fetch(client_id)
        except ClientMetadataError as exc:
            return _error_page(request, f"The client's metadata document cannot be used: {exc}.")
        await store.upsert_metadata_client(db, metadata)
        await db.commit()

    oauth_request = GatewayOAuth2Request(
        request.method,
        runtime.config.issuer + AUTHORIZE_PATH + "?" + urlencode(params),
        query=params,
        headers=request.headers,
    )
    server = GatewayAuthorizationServer(runtime.config, SyncStore(db))
    user_id = user.id if user is not None else None
    try:
        grant = await run_oauth(lambda: server.get_consent_grant(oauth_request, end_user=user_id))
    except OAuth2Error as exc:
        if exc.redirect_uri:
            error = server.handle_error_response(oauth_request, exc)
            return _see_other(server.add_issuer(error))
        return _error_page(request, exc.description or exc.error)

    if user is None:
        return render(
            request,
            "oauth_signin.html",
            {"next": AUTHORIZE_PATH + "?" + urlencode(params)},
            no_store=True,
        )

    client = grant.request.client
    scope: str = grant.request.scope
    consent = await store.find_consent(db, user_id=user.id, client_pk=client.pk)
    remembered = consent is not None and set(scope.split()) <= set(consent.scope.split())
    if decision is None and not remembered:
        return _consent_page(request, runtime, client.row, grant.redirect_uri, scope, params)

    if decision == "deny":
        granted_to: str | None = None
    else:
        granted_to = user.id
        await store.remember_consent(db, user_id=user.id, client_pk=client.pk, scope=scope)
    response = await run_oauth(
        lambda: server.create_authorization_response(
            oauth_request, grant_user=granted_to, grant=grant
        )
    )
    await db.commit()
    return _see_other(response)


def _consent_page(
    request: Request,
    runtime: OAuthRuntime,
    client: OAuthClient,
    redirect_uri: str,
    scope: str,
    params: list[tuple[str, str]],
) -> Response:
    keys: Keys = request.app.state.keys
    view = consent_view(
        client_name=client.client_name,
        client_id=client.client_id,
        kind=client.kind,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=runtime.config.resource,
    )
    response = render(
        request,
        "oauth_consent.html",
        {
            "view": view,
            "params": params,
            "binding": consent_binding(keys.secret, session_cookie(request) or "", params),
        },
        no_store=True,
    )
    response.headers["Content-Security-Policy"] = consent_page_csp(redirect_uri)
    response.headers["X-Frame-Options"] = "DENY"
    return response
