"""PKCE for the authorization code grant: S256 only, required."""

from __future__ import annotations

from typing import Any, Final

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only, required at the authorization endpoint.

    authlib's own check lets a request without ``code_challenge`` through (it
    only fails later at the token endpoint) and accepts ``plain``; both are
    refused here, before any consent is shown (OAuth 2.1, RFC 9700 §2.1.1).
    A missing method means ``plain`` (RFC 7636 §4.3), so it is refused too.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: Final = ["S256"]
    CODE_CHALLENGE_METHODS: Final = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("code_challenge is required (PKCE with S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)
