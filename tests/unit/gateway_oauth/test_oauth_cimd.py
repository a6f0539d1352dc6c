"""Client ID metadata documents: URL and document rules, and the SSRF-safe fetch over real TLS."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcpod_gateway.oauth.cimd import (
    ClientMetadataError,
    check_client_id_url,
    parse_client_metadata,
)
from mcpod_gateway.oauth.cimd_fetch import (
    ClientMetadataFetcher,
    cache_seconds,
    is_public_address,
)
from support.tls_server import (
    Route,
    ThrowawayCa,
    TlsDocumentServer,
    make_test_ca,
    tls_document_server,
)

DOC_PATH = "/oauth/client.json"


@pytest.fixture(scope="module")
def throwaway_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCa:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def docs(throwaway_ca: ThrowawayCa) -> Iterator[TlsDocumentServer]:
    with tls_document_server(throwaway_ca) as server:
        yield server


def document(client_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_name": "Doc Agent",
        "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        **overrides,
    }


def fetcher(ca: ThrowawayCa, **kwargs: Any) -> ClientMetadataFetcher:
    return ClientMetadataFetcher(allow_private=True, ca_file=ca.ca_file, **kwargs)


# ---- pure rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://agent.example/client.json",  # not https
        "https://agent.example",  # no path
        "https://agent.example/",  # root path
        "https://agent.example/c.json#x",  # fragment
        "https://user@agent.example/c.json",  # user info
        "https://agent.example/a/../c.json",  # dot segment
        "https://" + "a" * 2100 + ".example/c.json",  # too long
        "https://agent.example:99999/c.json",  # bad port
    ],
)
def test_client_id_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ClientMetadataError):
        check_client_id_url(url)


def test_client_id_url_accepted() -> None:
    url = "https://claude.ai/oauth/claude-code-client-metadata"
    assert check_client_id_url(url) == url


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps(document("https://other.example/c.json")).encode(), "does not equal"),
        (json.dumps(document("URL", client_secret="s")).encode(), "client_secret"),
        (
            json.dumps(document("URL", token_endpoint_auth_method="private_key_jwt")).encode(),
            "public clients only",
        ),
        (json.dumps(document("URL", redirect_uris=["javascript:alert(1)"])).encode(), "scheme"),
        (json.dumps(document("URL", redirect_uris=[])).encode(), "non-empty"),
        (json.dumps(document("URL", client_name=None)).encode(), "client_name"),
        (json.dumps(document("URL", client_name="a\u202eb")).encode(), "invisible"),
        (json.dumps(document("URL", grant_types=["password"])).encode(), "grant_types"),
    ],
)
def test_documents_that_are_refused(raw: bytes, reason: str) -> None:
    raw = raw.replace(b'"URL"', b'"https://agent.example/c.json"')
    with pytest.raises(ClientMetadataError, match=reason):
        parse_client_metadata("https://agent.example/c.json", raw)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 (an address under test, not a bind)
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
    ],
)
def test_public_address_rule(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 300),
        ("max-age=3600", 3600),
        ("public, max-age=5", 60),
        ("max-age=9999999", 86400),
        ("no-store", 0),
        ("private", 300),
    ],
)
def test_cache_lifetime_from_cache_control(header: str | None, seconds: int) -> None:
    assert cache_seconds(header) == seconds


# ---- the fetch, over TLS ----------------------------------------------------------


async def test_fetches_and_validates_a_document(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    url = docs.url(DOC_PATH)
    docs.serve_json(DOC_PATH, document(url))
    metadata = await fetcher(throwaway_ca).fetch(url)
    assert metadata.client_id == url
    assert metadata.client_name == "Doc Agent"
    assert metadata.redirect_uris == ("http://localhost/callback", "http://127.0.0.1/callback")


async def test_loopback_is_refused_without_the_test_setting(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    url = docs.url(DOC_PATH)
    docs.serve_json(DOC_PATH, document(url))
    strict = ClientMetadataFetcher(allow_private=False, ca_file=throwaway_ca.ca_file)
    with pytest.raises(ClientMetadataError, match="non-public address"):
        await strict.fetch(url)
    with pytest.raises(ClientMetadataError, match="non-public address"):
        await strict.fetch(docs.url(DOC_PATH, host="127.0.0.1"))
    assert docs.hits.get(DOC_PATH, 0) == 0  # refused before any connection


async def test_a_name_resolving_to_a_private_address_is_refused(throwaway_ca: ThrowawayCa) -> None:
    async def rebinding_resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]  # one public, one private: refused as a whole

    strict = ClientMetadataFetcher(
        allow_private=False, ca_file=throwaway_ca.ca_file, resolver=rebinding_resolver
    )
    with pytest.raises(ClientMetadataError, match="non-public address"):
        await strict.fetch("https://agent.example/c.json")


async def test_unresolvable_host(throwaway_ca: ThrowawayCa) -> None:
    async def no_answer(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    strict = ClientMetadataFetcher(ca_file=throwaway_ca.ca_file, resolver=no_answer)
    with pytest.raises(ClientMetadataError, match="does not resolve"):
        await strict.fetch("https://nowhere.invalid/c.json")


async def test_oversized_document_is_refused(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    url = docs.url(DOC_PATH)
    docs.serve_json(DOC_PATH, document(url, padding="x" * 20_000))
    with pytest.raises(ClientMetadataError, match="larger than"):
        await fetcher(throwaway_ca).fetch(url)


async def test_redirects_are_not_followed(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    url = docs.url(DOC_PATH)
    docs.routes[DOC_PATH] = Route(status=302, headers={"Location": docs.url("/elsewhere.json")})
    docs.serve_json("/elsewhere.json", document(url))
    with pytest.raises(ClientMetadataError, match="redirect"):
        await fetcher(throwaway_ca).fetch(url)
    assert docs.hits.get("/elsewhere.json", 0) == 0


async def test_slow_server_times_out(throwaway_ca: ThrowawayCa, docs: TlsDocumentServer) -> None:
    url = docs.url(DOC_PATH)
    docs.routes[DOC_PATH] = Route(body=json.dumps(document(url)).encode(), delay=2.0)
    with pytest.raises(ClientMetadataError, match="timed out"):
        await fetcher(throwaway_ca, timeout=0.5).fetch(url)


async def test_untrusted_certificate_is_refused(docs: TlsDocumentServer) -> None:
    url = docs.url(DOC_PATH)
    docs.serve_json(DOC_PATH, document(url))
    with pytest.raises(ClientMetadataError, match="could not be fetched"):
        await ClientMetadataFetcher(allow_private=True).fetch(url)


async def test_error_status_is_refused(throwaway_ca: ThrowawayCa, docs: TlsDocumentServer) -> None:
    with pytest.raises(ClientMetadataError, match="HTTP 404"):
        await fetcher(throwaway_ca).fetch(docs.url("/missing.json"))


async def test_document_for_another_url_is_refused(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    docs.serve_json(DOC_PATH, document(docs.url("/someone-else.json")))
    with pytest.raises(ClientMetadataError, match="does not equal"):
        await fetcher(throwaway_ca).fetch(docs.url(DOC_PATH))


async def test_documents_are_cached_per_cache_control(
    throwaway_ca: ThrowawayCa, docs: TlsDocumentServer
) -> None:
    cached_url, uncached_url = docs.url(DOC_PATH), docs.url("/nostore.json")
    docs.serve_json(DOC_PATH, document(cached_url), **{"Cache-Control": "max-age=600"})
    docs.serve_json("/nostore.json", document(uncached_url), **{"Cache-Control": "no-store"})
    shared = fetcher(throwaway_ca)
    for _ in range(3):
        await shared.fetch(cached_url)
        await shared.fetch(uncached_url)
    assert docs.hits[DOC_PATH] == 1
    assert docs.hits["/nostore.json"] == 3


def test_ca_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(OSError):  # noqa: PT011 (ssl raises FileNotFoundError)
        ClientMetadataFetcher(ca_file=tmp_path / "missing.pem")
