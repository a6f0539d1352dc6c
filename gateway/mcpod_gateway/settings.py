"""Gateway configuration: every setting is an ``MCPOD_*`` environment variable.

The names are a contract (ARCHITECTURE.md, "Configuration names"); every field is
documented with its default in gateway/README.md.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR: Final = Path.home() / ".local" / "share" / "mcpod"
DATABASE_FILE_NAME: Final = "gateway.db"


class BackendKind(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"


class Registration(StrEnum):
    """Who may create an account in the portal."""

    OPEN = "open"  # anyone who reaches the portal
    INVITE = "invite"  # only holders of an invite link (admin CLI: create-invite)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MCPOD_", extra="ignore", frozen=True)

    public_url: str = "http://localhost:8000"
    listen: str = "127.0.0.1:8000"
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = None
    backend: BackendKind = BackendKind.LOCAL
    secret_key: SecretStr | None = None
    master_key: SecretStr | None = None
    routing_key: SecretStr | None = None
    dev: bool = False
    namespace: str = "mcpod"
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed: IPs or CIDRs,
    # comma-separated.  Empty: trust nobody (the client address is the TCP peer).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    registration: Registration = Registration.OPEN
    rp_name: str = "mcpod"
    session_idle_minutes: int = Field(default=12 * 60, ge=1)
    session_max_hours: int = Field(default=7 * 24, ge=1)
    # Adding/removing passkeys and creating API tokens need a passkey sign-in this recent.
    reauth_minutes: int = Field(default=15, ge=1)
    challenge_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    # Per client address, per minute, on sign-in and registration endpoints.
    auth_rate_per_minute: int = Field(default=20, ge=1)
    token_cache_seconds: float = Field(default=5.0, ge=0)
    migrate_on_start: bool = True
    log_level: str = "info"
    # OAuth 2.1 authorization server (oauth/); documented in gateway/README.md.
    oauth_access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    oauth_refresh_token_days: int = Field(default=30, ge=1, le=365)
    oauth_refresh_grace_seconds: int = Field(default=30, ge=0, le=300)
    oauth_rate_per_minute: int = Field(default=60, ge=1)
    oauth_registrations_per_hour: int = Field(default=20, ge=1)
    oauth_max_clients: int = Field(default=10_000, ge=1)
    oauth_cimd_allow_private: bool = False  # tests only: fetch client metadata from 127.0.0.1
    oauth_cimd_ca_file: Path | None = None  # extra CA bundle for client metadata fetches

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "MCPOD_PUBLIC_URL must be an absolute http(s) URL, e.g. https://mcp.example.com"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("MCPOD_PUBLIC_URL must be an origin without path, query or fragment")
        if parts.scheme == "http" and parts.hostname != "localhost":
            raise ValueError(
                "MCPOD_PUBLIC_URL must use https (http is allowed only for http://localhost)"
            )
        _check_rp_host(parts.hostname)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"MCPOD_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR"
                ) from None
        return value

    @property
    def origin(self) -> str:
        """The browser origin of the portal (no trailing slash)."""
        return self.public_url

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying-party id: the public host, without port."""
        host = urlsplit(self.public_url).hostname
        assert host is not None  # checked by the validator
        return host

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get ``Secure`` and the ``__Host-`` prefix (not on http://localhost)."""
        return self.public_url.startswith("https://")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / DATABASE_FILE_NAME}"


def _check_rp_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return
    raise ValueError(
        "MCPOD_PUBLIC_URL must use a host name, not an IP address: "
        "passkeys cannot be bound to an IP (use http://localhost for development)"
    )


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` → (host, port); raises ValueError naming MCPOD_LISTEN."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"MCPOD_LISTEN must be host:port, e.g. 127.0.0.1:8000 (got {value!r})")
    return host.strip("[]"), int(port)


def decode_key(value: str) -> bytes:
    """A key given as 64 hex digits or base64 (standard or URL-safe) of 32+ bytes."""
    text = value.strip()
    try:
        if len(text) >= 64 and all(c in "0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text)
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("not hex or base64") from None
