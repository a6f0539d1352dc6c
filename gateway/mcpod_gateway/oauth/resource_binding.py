"""RFC 8707 resource indicators: one resource, bound to codes and tokens.

authlib has no RFC 8707 support; this extension adds it to the grants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oauth2 import OAuth2Error

from .requests import GatewayOAuth2Request


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 §2: the ``resource`` is not one this server issues tokens for."""

    error = "invalid_target"


class ResourceIndicator:
    """RFC 8707: ``resource`` at authorize and token, bound to the code and the tokens.

    Absent means this gateway's one resource (older clients omit it); anything
    else, or more than one, is ``invalid_target``.
    """

    def __init__(self, settings_resource: str, match: Callable[[str], bool]) -> None:
        self.resource = settings_resource
        self.match = match

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.at_authorize)

    def requested(self, request: GatewayOAuth2Request) -> str | None:
        """The request's resource in canonical form, None if absent; else invalid_target."""
        values = request.payload.datalist.get("resource", [])
        if len(values) > 1:
            raise InvalidTargetError("only one resource may be requested")
        if not values:
            return None
        if not self.match(values[0]):
            raise InvalidTargetError(
                f"unknown resource; this server issues tokens for {self.resource}"
            )
        return self.resource

    def at_authorize(self, grant: Any, redirect_uri: str) -> None:
        request: GatewayOAuth2Request = grant.request
        request.resource = self.requested(request) or self.resource

    def bind(self, request: GatewayOAuth2Request, bound: str) -> None:
        """At the token endpoint: the grant's resource must still be ours."""
        if not self.match(bound):
            raise InvalidTargetError("the grant was issued for another resource")
        request.resource = bound
