"""PATs at rest for the local backend: AES-256-GCM under ``MCPOD_MASTER_KEY``.

Each ciphertext is bound to its connection's uid (associated data), so a
ciphertext copied onto another row does not decrypt.  Decryption happens only
to start that connection's bridge.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES: Final = 12
_VERSION: Final = b"\x01"
_CONTEXT: Final = b"mcpod pat v1\x00"


class PatDecryptionError(RuntimeError):
    """The stored PAT cannot be decrypted (another master key, or a tampered row)."""


class PatCipher:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (AES-256)")
        self._aead = AESGCM(master_key)

    def __repr__(self) -> str:
        return "PatCipher(***)"

    def encrypt(self, pat: str, connection_uid: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, pat.encode(), _CONTEXT + connection_uid.encode())
        return _VERSION + nonce + sealed

    def decrypt(self, blob: bytes, connection_uid: str) -> str:
        if not blob.startswith(_VERSION) or len(blob) < 1 + NONCE_BYTES + 16:
            raise PatDecryptionError("the stored token has an unknown format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _CONTEXT + connection_uid.encode()).decode()
        except InvalidTag:
            raise PatDecryptionError(
                "the stored token cannot be decrypted: was MCPOD_MASTER_KEY changed?"
            ) from None
