"""Fetching client ID metadata documents without becoming an SSRF proxy.

The ``client_id`` URL comes from whoever starts an authorization, so the fetch:

- is https only, to the URL's host and port, with a short timeout;
- resolves the host once, refuses the fetch if *any* resolved address is not a
  public unicast address (loopback, private, link-local, reserved, multicast…),
  and then connects to that checked address (the TLS name stays the host, so
  the certificate is still verified) — a second lookup cannot rebind it;
- never follows redirects, and reads at most ``max_bytes``;
- caches good documents per ``Cache-Control: max-age`` (clamped), so a client's
  document is not fetched on every authorization.

``allow_private`` (``MCPOD_OAUTH_CIMD_ALLOW_PRIVATE``) lifts the address rule;
it exists for tests that serve documents on 127.0.0.1 and is logged loudly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import certifi
import httpx

from .cimd import ClientMetadata, ClientMetadataError, check_client_id_url, parse_client_metadata

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS: Final = 5.0
DEFAULT_MAX_BYTES: Final = 16 * 1024
MIN_CACHE_SECONDS: Final = 60
DEFAULT_CACHE_SECONDS: Final = 300
MAX_CACHE_SECONDS: Final = 24 * 3600
MAX_CACHE_ENTRIES: Final = 1000
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)

Resolver = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public_address(address: IpAddress) -> bool:
    """A global unicast address: nothing on this host, this network or a private one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def cache_seconds(cache_control: str | None) -> int:
    """How long to keep a document: its max-age clamped to [60 s, 24 h]; no-store → 0."""
    if not cache_control:
        return DEFAULT_CACHE_SECONDS
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0
    found = _MAX_AGE.search(cache_control)
    if found is None:
        return DEFAULT_CACHE_SECONDS
    return max(MIN_CACHE_SECONDS, min(int(found.group(1)), MAX_CACHE_SECONDS))


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Cached:
    metadata: ClientMetadata
    until: float


class ClientMetadataFetcher:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        resolver: Resolver = resolve_host,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._resolver = resolver
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        context = ssl.create_default_context(cafile=certifi.where())
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
        self._ssl = context
        if allow_private:
            log.warning(
                "MCPOD_OAUTH_CIMD_ALLOW_PRIVATE is on: client metadata may be fetched from "
                "loopback and private addresses (tests only; never in production)"
            )

    async def fetch(self, client_id: str) -> ClientMetadata:
        """The validated document for ``client_id``; raises ClientMetadataError."""
        check_client_id_url(client_id)
        cached = self._cache.get(client_id)
        if cached is not None and cached.until > self._clock():
            return cached.metadata
        metadata, keep_for = await self._fetch(client_id)
        if keep_for > 0:
            if len(self._cache) >= MAX_CACHE_ENTRIES:
                self._cache.clear()
            self._cache[client_id] = _Cached(metadata, self._clock() + keep_for)
        return metadata

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)

    async def _fetch(self, client_id: str) -> tuple[ClientMetadata, int]:
        parts = urlsplit(client_id)
        host = parts.hostname
        assert host is not None  # checked by check_client_id_url
        port = parts.port or 443
        addresses = await self._checked_addresses(host, port)
        last_error = "client metadata URL could not be fetched"
        # Every address was checked; try them in order (e.g. ::1 then 127.0.0.1).
        for address in addresses:
            try:
                # A total deadline too: httpx's timeout is per read, and a server
                # could drip one byte at a time.
                return await asyncio.wait_for(
                    self._fetch_from(client_id, host, port, address), self._timeout
                )
            except TimeoutError:
                raise ClientMetadataError("client metadata URL timed out") from None
            except httpx.ConnectError:
                last_error = "client metadata URL could not be fetched (connection failed)"
        raise ClientMetadataError(last_error)

    async def _fetch_from(
        self, client_id: str, host: str, port: int, address: str
    ) -> tuple[ClientMetadata, int]:
        parts = urlsplit(client_id)
        target = f"[{address}]" if ":" in address else address
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        url = f"https://{target}:{port}{path}"
        host_header = host if port == 443 else f"{host}:{port}"
        try:
            async with (
                httpx.AsyncClient(
                    verify=self._ssl, timeout=self._timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    "GET",
                    url,
                    headers={"Host": host_header, "Accept": "application/json"},
                    extensions={"sni_hostname": host},
                ) as response,
            ):
                if response.is_redirect:
                    raise ClientMetadataError(
                        "client metadata URL redirects; redirects are refused"
                    )
                if response.status_code != 200:
                    raise ClientMetadataError(
                        f"client metadata URL answered HTTP {response.status_code}"
                    )
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
                    raise ClientMetadataError(self._too_large())
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self._max_bytes:
                        raise ClientMetadataError(self._too_large())
                keep_for = cache_seconds(response.headers.get("cache-control"))
        except httpx.ConnectError:
            raise
        except httpx.TimeoutException:
            raise ClientMetadataError("client metadata URL timed out") from None
        except httpx.HTTPError as exc:
            raise ClientMetadataError(
                f"client metadata URL could not be fetched ({type(exc).__name__})"
            ) from None
        return parse_client_metadata(client_id, bytes(body)), keep_for

    def _too_large(self) -> str:
        return f"client metadata document is larger than {self._max_bytes} bytes"

    async def _checked_addresses(self, host: str, port: int) -> list[str]:
        try:
            literal: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await asyncio.wait_for(self._resolver(host, port), self._timeout)
            except (OSError, TimeoutError):
                raise ClientMetadataError(
                    f"client metadata host {host!r} does not resolve"
                ) from None
        if not addresses:
            raise ClientMetadataError(f"client metadata host {host!r} does not resolve")
        if not self._allow_private:
            for item in addresses:
                if not is_public_address(ipaddress.ip_address(item.split("%")[0])):
                    raise ClientMetadataError(
                        f"client metadata host {host!r} resolves to a non-public address"
                    )
        return [item.split("%")[0] for item in addresses]
