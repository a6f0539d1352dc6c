"""Thin adapters between Starlette requests/responses and authlib's framework-free core.

authlib has no FastAPI integration and its core is synchronous: routes read
the body first (async), wrap the parsed parameters here, and run the core in a
worker thread.  The URL given to authlib is built from ``MCPOD_PUBLIC_URL``,
never from request headers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from starlette.responses import Response


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """Query and form parameters merged (authorize uses the query, token the form)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        # The first value of each parameter; duplicates are rejected by the grants.
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class GatewayOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Starlette's Headers are case-insensitive, which authlib's Basic-auth parsing needs.
        super().__init__(method, uri, headers=headers if headers is not None else {})
        self._query = FormPayload(query)
        self._form = FormPayload(form)
        self.payload = FormPayload([*_pairs(self._query), *_pairs(self._form)])
        # Set by the resource hooks and the grants; read by save_token.
        self.resource: str | None = None

    @property
    def args(self) -> dict[str, str]:
        return self._query.data

    @property
    def form(self) -> dict[str, str]:
        return self._form.data


def _pairs(payload: FormPayload) -> list[tuple[str, str]]:
    return [(key, value) for key, values in payload.datalist.items() for value in values]


class OAuth2Response(Response):
    """A Response whose ``location`` authlib's RFC 9207 extension can rewrite."""

    @property
    def location(self) -> str | None:
        return self.headers.get("location")

    @location.setter
    def location(self, value: str) -> None:
        self.headers["location"] = value


def to_response(status: int, body: Any, headers: Iterable[tuple[str, str]]) -> OAuth2Response:
    if isinstance(body, dict):
        content = json.dumps(body).encode()
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = b""
    response = OAuth2Response(content=content, status_code=status)
    for name, value in headers:
        response.headers[name] = value
    return response
