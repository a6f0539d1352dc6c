"""Settings validation and the key guard."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mcpod_gateway.app import create_app
from mcpod_gateway.keys import DEV_SECRET_KEY, KeyGuardError, resolve_keys
from mcpod_gateway.settings import Settings, decode_key, split_listen
from pydantic import ValidationError

GOOD = "a" * 64


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"secret_key": GOOD, "master_key": GOOD, "routing_key": GOOD}
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MCPOD_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("missing", ["secret_key", "master_key", "routing_key"])
def test_missing_key_stops_the_gateway_naming_the_setting(missing: str) -> None:
    with pytest.raises(KeyGuardError, match=f"MCPOD_{missing.upper()} is not set"):
        create_app(settings(**{missing: None}))


def test_kubernetes_backend_does_not_need_a_master_key() -> None:
    keys = resolve_keys(settings(master_key=None, backend="kubernetes"))
    assert keys.master == b""
    assert not keys.insecure


def test_dev_mode_allows_builtin_keys_loudly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    keys = resolve_keys(Settings(dev=True))
    assert keys.insecure
    assert "MCPOD_DEV=1" in caplog.text
    assert "MCPOD_SECRET_KEY" in caplog.text
    assert len(keys.master) == 32
    assert len(keys.routing) >= 32


def test_dev_mode_is_never_the_default() -> None:
    assert Settings().dev is False
    with pytest.raises(KeyGuardError):
        resolve_keys(Settings())


def test_builtin_dev_key_is_refused_outside_dev_mode() -> None:
    with pytest.raises(KeyGuardError, match="built-in development key"):
        resolve_keys(settings(secret_key=DEV_SECRET_KEY))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"secret_key": "short"}, "MCPOD_SECRET_KEY must be at least 32"),
        ({"master_key": "ab" * 16}, "MCPOD_MASTER_KEY must decode to exactly 32 bytes"),
        ({"master_key": "not a key!"}, "MCPOD_MASTER_KEY must be 32 bytes"),
        ({"routing_key": "x" * 31}, "MCPOD_ROUTING_KEY must be at least 32"),
    ],
)
def test_unusable_keys_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(KeyGuardError, match=message):
        resolve_keys(settings(**values))


def test_keys_do_not_print_their_values() -> None:
    keys = resolve_keys(settings())
    assert GOOD not in repr(keys)
    assert GOOD not in repr(settings())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://gw.example.com", "must use https"),
        ("https://10.0.0.1", "not an IP address"),
        ("https://gw.example.com/portal", "without path"),
        ("ftp://gw.example.com", "absolute http"),
        ("gw.example.com", "absolute http"),
    ],
)
def test_bad_public_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(public_url=url)


def test_public_url_gives_rp_id_origin_and_cookie_security() -> None:
    s = settings(public_url="https://GW.example.com:8443/")
    assert s.origin == "https://gw.example.com:8443"
    assert s.rp_id == "gw.example.com"
    assert s.secure_cookies
    local = settings(public_url="http://localhost:8000")
    assert local.rp_id == "localhost"
    assert not local.secure_cookies


def test_settings_come_from_mcpod_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPOD_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    monkeypatch.setenv("MCPOD_REGISTRATION", "invite")
    monkeypatch.setenv("MCPOD_DATA_DIR", "/srv/mcpod")
    s = Settings()
    assert s.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]
    assert s.registration == "invite"
    assert s.effective_database_url == "sqlite+aiosqlite:////srv/mcpod/gateway.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MCPOD_TRUSTED_PROXIES", "proxy.example"),
        ("MCPOD_REGISTRATION", "sometimes"),
        ("MCPOD_BACKEND", "docker"),
        ("MCPOD_LISTEN", "8000"),
        ("MCPOD_SESSION_IDLE_MINUTES", "0"),
    ],
)
def test_bad_environment_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_split_listen() -> None:
    assert split_listen("0.0.0.0:8000") == ("0.0.0.0", 8000)  # noqa: S104
    assert split_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("localhost", ":80", "host:0", "host:99999", "host:http"):
        with pytest.raises(ValueError, match="MCPOD_LISTEN"):
            split_listen(bad)


def test_decode_key_accepts_hex_and_base64() -> None:
    raw = bytes(range(32))
    assert decode_key(raw.hex()) == raw
    import base64

    assert decode_key(base64.b64encode(raw).decode()) == raw
    assert decode_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    s = settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
