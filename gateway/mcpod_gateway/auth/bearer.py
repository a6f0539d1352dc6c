"""The bearer check that ``/mcp`` uses: a token in, exactly one user out (or nobody).

Each kind of token (API tokens here; OAuth access tokens later) is a
:class:`BearerVerifier` that claims the tokens it recognises by their prefix.
:class:`CompositeBearerVerifier` asks the one that claims the token, so a token
is never tried against a store it could not belong to.  The app keeps its
composite at ``app.state.bearer_verifier``; :data:`BearerVerifierDep` hands it
to a route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Protocol

from fastapi import Depends, Request


class TokenKind(StrEnum):
    API_TOKEN = "api_token"  # noqa: S105 (a kind, not a secret)
    OAUTH_ACCESS = "oauth_access"


@dataclass(frozen=True)
class Principal:
    """The caller behind a valid bearer token."""

    user_id: str
    kind: TokenKind
    token_id: str  # the token's row id, for audit and revocation (never the token itself)
    client_name: str  # the API token's name, or the OAuth client's name
    scopes: frozenset[str] = field(default_factory=frozenset)


class BearerVerifier(Protocol):
    def accepts(self, token: str) -> bool:
        """Whether the token has this verifier's shape (prefix); no I/O."""
        ...

    async def verify(self, token: str) -> Principal | None:
        """The principal for a valid, unexpired, unrevoked token, else None."""
        ...


class CompositeBearerVerifier:
    """Dispatches each token to the verifier that accepts it."""

    def __init__(self, verifiers: Sequence[BearerVerifier] = ()) -> None:
        self._verifiers: list[BearerVerifier] = list(verifiers)

    def add(self, verifier: BearerVerifier) -> None:
        self._verifiers.append(verifier)

    def accepts(self, token: str) -> bool:
        return any(v.accepts(token) for v in self._verifiers)

    async def verify(self, token: str) -> Principal | None:
        for verifier in self._verifiers:
            if verifier.accepts(token):
                return await verifier.verify(token)
        return None


def bearer_token_from_header(authorization: str | None) -> str | None:
    """The token in ``Authorization: Bearer <token>``, or None (RFC 6750 §2.1)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def get_bearer_verifier(request: Request) -> CompositeBearerVerifier:
    verifier: CompositeBearerVerifier = request.app.state.bearer_verifier
    return verifier


BearerVerifierDep = Annotated[CompositeBearerVerifier, Depends(get_bearer_verifier)]
