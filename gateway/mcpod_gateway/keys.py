"""Key guard: the gateway refuses to start without real secret keys.

Only ``MCPOD_DEV=1`` lets it fall back to built-in, publicly known keys, and that
is logged loudly at every start.  Errors name the setting to fix.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr

from .settings import BackendKind, Settings, decode_key

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH: Final = 32
MASTER_KEY_BYTES: Final = 32  # AES-256-GCM
MIN_ROUTING_KEY_BYTES: Final = 32

# Deliberately public: anyone can recompute them, which is why they are refused
# unless MCPOD_DEV=1.
_DEV_SEED: Final = b"mcpod insecure development key - never use in production"


def _dev_key(purpose: str) -> bytes:
    return hashlib.sha256(_DEV_SEED + purpose.encode()).digest()


DEV_SECRET_KEY: Final = _dev_key("secret").hex()
DEV_MASTER_KEY: Final = _dev_key("master").hex()
DEV_ROUTING_KEY: Final = _dev_key("routing").hex()


class KeyGuardError(RuntimeError):
    """A required key is missing or unusable; the message names the setting."""


@dataclass(frozen=True, repr=False)
class Keys:
    """The gateway's secret keys, resolved and checked."""

    secret: bytes  # signs CSRF tokens
    master: bytes  # encrypts PATs in the local store (AES-256-GCM)
    routing: bytes  # derives bridge tokens (shared with the operator)
    insecure: bool  # True when any built-in development key is in use

    def __repr__(self) -> str:
        return f"Keys(insecure={self.insecure})"


_GENERATE_HINT: Final = (
    "generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
)


def resolve_keys(settings: Settings) -> Keys:
    """Return the keys to use, or raise KeyGuardError naming the missing setting."""
    insecure: list[str] = []

    def pick(name: str, value: str | None, dev_value: str) -> str:
        if value:
            if value == dev_value and not settings.dev:
                raise KeyGuardError(
                    f"MCPOD_{name} is the built-in development key, which is public; "
                    f"set a real key ({_GENERATE_HINT})"
                )
            return value
        if settings.dev:
            insecure.append(f"MCPOD_{name}")
            return dev_value
        raise KeyGuardError(
            f"MCPOD_{name} is not set; the gateway refuses to start without it "
            f"({_GENERATE_HINT}), or set MCPOD_DEV=1 for local development only"
        )

    secret = pick("SECRET_KEY", _reveal(settings.secret_key), DEV_SECRET_KEY)
    if len(secret) < MIN_SECRET_LENGTH:
        raise KeyGuardError(f"MCPOD_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")

    master_text = _reveal(settings.master_key)
    if settings.backend is BackendKind.LOCAL or master_text:
        master_text = pick("MASTER_KEY", master_text, DEV_MASTER_KEY)
        try:
            master = decode_key(master_text)
        except ValueError:
            raise KeyGuardError(
                "MCPOD_MASTER_KEY must be 32 bytes as 64 hex digits or base64"
            ) from None
        if len(master) != MASTER_KEY_BYTES:
            raise KeyGuardError(
                f"MCPOD_MASTER_KEY must decode to exactly {MASTER_KEY_BYTES} bytes "
                f"(got {len(master)})"
            )
    else:
        master = b""  # the kubernetes backend keeps PATs in Secrets, not in the database

    routing = pick("ROUTING_KEY", _reveal(settings.routing_key), DEV_ROUTING_KEY).encode()
    if len(routing) < MIN_ROUTING_KEY_BYTES:
        raise KeyGuardError(f"MCPOD_ROUTING_KEY must be at least {MIN_ROUTING_KEY_BYTES} bytes")

    if insecure:
        log.warning(
            "!!! MCPOD_DEV=1: using built-in, PUBLIC development keys for %s. "
            "Anyone can forge sessions and decrypt stored secrets. Never run like this "
            "outside your own machine. !!!",
            ", ".join(insecure),
        )
    return Keys(secret=secret.encode(), master=master, routing=routing, insecure=bool(insecure))


def _reveal(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None
