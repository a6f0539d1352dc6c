"""Pure pieces of /mcp and the connection store: validation, PAT encryption, protocol, throttle."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_gateway.connections.kubernetes import build_connection, build_pat_secret, view_of
from mcpod_gateway.connections.model import ConnectionSpec, ConnectionView
from mcpod_gateway.connections.pat_store import PatCipher, PatDecryptionError
from mcpod_gateway.connections.validation import ConnectionInputError, build_spec, check_pat
from mcpod_gateway.mcp import protocol
from mcpod_gateway.mcp.activity import ActivityThrottle
from mcpod_gateway.mcp.endpoint import allowed_origin, www_authenticate
from mcpod_gateway.mcp.protocol import RpcError, decode_message

PAT = "patSENTINELunit0123456789abcdef"


def test_build_spec_accepts_a_full_form() -> None:
    spec = build_spec(
        slug="work",
        organization="contoso",
        domains=["work", "core"],
        read_only=True,
        tools_allow="core_*, wit_work_item",
        tools_deny="*_write",
        default_project="Fabrikam",
        idle_timeout="15m",
    )
    assert spec.domains == ("core", "work")  # canonical order
    assert spec.tools_allow == ("core_*", "wit_work_item")
    assert spec.policy.refusal("wit_work_item_write", {}) is not None


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"slug": "Work"}, "slug"),
        ({"slug": "w" * 23}, "slug"),
        ({"slug": "a--b"}, "slug"),
        ({"slug": "list"}, "slug"),
        ({"slug": "wörk"}, "slug"),
        ({"organization": "-contoso"}, "organization"),
        ({"organization": "a b"}, "organization"),
        ({"domains": ["core,work"]}, "domains"),
        ({"domains": ["everything"]}, "domains"),
        ({"tools_allow": "core list"}, "tools_allow"),
        ({"tools_deny": "a,,b"}, "tools_deny"),
        ({"default_project": "x\x00y"}, "default_project"),
        ({"default_team": "<script>"}, "default_team"),
        ({"idle_timeout": "ten minutes"}, "idle_timeout"),
        ({"idle_timeout": "5s"}, "idle_timeout"),
        ({"idle_timeout": "999h"}, "idle_timeout"),
    ],
)
def test_build_spec_names_the_bad_field(fields: dict[str, object], bad: str) -> None:
    values: dict[str, object] = {"slug": "work", "organization": "contoso", **fields}
    with pytest.raises(ConnectionInputError) as caught:
        build_spec(**values)  # type: ignore[arg-type]
    assert bad in caught.value.problems


@pytest.mark.parametrize("pat", ["", "short", "has space" * 4, "é" * 30, "x" * 513, "a\nb" * 10])
def test_check_pat_refuses_without_echoing(pat: str) -> None:
    why = check_pat(pat)
    assert why is not None
    assert pat not in why or pat == ""


def test_pat_cipher_round_trip_and_binding() -> None:
    cipher = PatCipher(b"k" * 32)
    blob = cipher.encrypt(PAT, "uid-1")
    assert PAT.encode() not in blob
    assert cipher.decrypt(blob, "uid-1") == PAT
    with pytest.raises(PatDecryptionError):
        cipher.decrypt(blob, "uid-2")  # copied onto another row
    with pytest.raises(PatDecryptionError):
        PatCipher(b"j" * 32).decrypt(blob, "uid-1")  # another master key
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(PatDecryptionError):
        cipher.decrypt(tampered, "uid-1")
    assert cipher.encrypt(PAT, "uid-1") != blob  # fresh nonce each time
    assert "k" not in repr(cipher)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", protocol.PARSE_ERROR),
        (b"[]", protocol.INVALID_REQUEST),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', protocol.INVALID_REQUEST),
        (b'{"id":1,"method":"ping"}', protocol.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', protocol.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":{}}', protocol.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', protocol.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":{},"method":"ping"}', protocol.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', protocol.INVALID_PARAMS),
        (b'"just a string"', protocol.INVALID_REQUEST),
        (b"[" * 100000 + b"]" * 100000, protocol.PARSE_ERROR),
    ],
)
def test_malformed_messages_get_json_rpc_errors(body: bytes, code: int) -> None:
    with pytest.raises(RpcError) as caught:
        decode_message(body)
    assert caught.value.code == code


def test_results_are_shaped_per_generation() -> None:
    upstream = {
        "content": [],
        "isError": False,
        "resultType": "complete",
        "_meta": {protocol.SERVER_INFO_META_KEY: {"name": "x"}},
    }
    legacy = protocol.for_legacy(upstream)
    assert "resultType" not in legacy
    assert "_meta" not in legacy
    modern = protocol.for_modern(legacy, "1", listing=True)
    assert modern["resultType"] == "complete"
    assert modern["cacheScope"] == "private"
    assert modern["_meta"][protocol.SERVER_INFO_META_KEY]["name"] == "mcpod"
    assert protocol.negotiate_legacy_version("2025-06-18") == "2025-06-18"
    assert protocol.negotiate_legacy_version("1999-01-01") == protocol.LATEST_LEGACY


def test_origin_rules() -> None:
    public = "https://mcp.example.com"
    assert allowed_origin(None, public, [])
    assert allowed_origin("https://MCP.example.com/", public, [])
    assert not allowed_origin("https://evil.example.com", public, [])
    assert not allowed_origin("null", public, [])
    assert allowed_origin("http://localhost:6274", public, ["http://localhost:6274"])
    header = www_authenticate(public, invalid=False)
    assert (
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
        in header
    )
    assert "error=" not in header
    assert 'error="invalid_token"' in www_authenticate(public, invalid=True)


def test_activity_throttle() -> None:
    now = [100.0]
    throttle = ActivityThrottle(30, clock=lambda: now[0])
    assert throttle.due("a")
    assert not throttle.due("a")
    assert throttle.due("b")
    now[0] += 29.9
    assert not throttle.due("a")
    now[0] += 0.2
    assert throttle.due("a")


def test_kubernetes_objects_never_carry_the_pat_outside_the_secret() -> None:
    spec = build_spec(slug="work", organization="contoso", domains=["core"], read_only=True)
    cr = build_connection(name="u1-work", namespace="ns", owner="u1", spec=spec)
    assert PAT not in json.dumps(cr)
    assert cr["spec"]["credentials"]["secretRef"]["name"] == "u1-work-pat"
    cr["metadata"]["uid"] = "uid-9"
    secret = build_pat_secret(connection=cr, pat=PAT)
    assert secret["stringData"] == {"pat": PAT}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-9"
    view = view_of({**cr, "status": {"phase": "Idle"}})
    assert view is not None
    assert view.owner == "u1"
    assert view.spec.read_only
    # An owner label that disagrees with spec.owner is not trusted.
    cr["metadata"]["labels"]["mcpod.dev/owner"] = "u2"
    assert view_of(cr) is None


def test_catalogue_fingerprint_follows_what_shapes_the_tools() -> None:
    base = ConnectionView(
        name="n",
        uid="u",
        owner="o",
        spec=ConnectionSpec(slug="s", organization="o"),
        created=datetime.now(UTC),
        server_version="2.10.0",
    )
    same = ConnectionView(**{**base.__dict__, "phase": base.phase})
    assert same.catalogue_fingerprint == base.catalogue_fingerprint
    for spec in (
        ConnectionSpec(slug="s", organization="o", read_only=True),
        ConnectionSpec(slug="s", organization="o", domains=("core",)),
        ConnectionSpec(slug="s", organization="o", tools_deny=("x",)),
    ):
        changed = ConnectionView(**{**base.__dict__, "spec": spec})
        assert changed.catalogue_fingerprint != base.catalogue_fingerprint
    newer = ConnectionView(**{**base.__dict__, "server_version": "2.11.0"})
    assert newer.catalogue_fingerprint != base.catalogue_fingerprint


def test_bridge_token_is_per_connection_uid() -> None:
    key = b"r" * 32
    assert derive_bridge_token(key, "a") != derive_bridge_token(key, "b")
