"""The bridge token: how the gateway proves itself to one connection's bridge.

It is an HMAC of the McpConnection's UID under the routing key that operator
and gateway share.  The operator stores it in a per-connection Secret for the
pod; the gateway recomputes it, so it never needs to read a Secret.
"""

from __future__ import annotations

import hashlib
import hmac

_CONTEXT = b"mcpod bridge token v1\x00"


def derive_bridge_token(routing_key: bytes, connection_uid: str) -> str:
    if len(routing_key) < 32:
        raise ValueError("the routing key must hold at least 32 bytes")
    if not connection_uid:
        raise ValueError("a connection UID is required")
    digest = hmac.new(routing_key, _CONTEXT + connection_uid.encode(), hashlib.sha256)
    return digest.hexdigest()


def tokens_match(presented: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(presented.encode(), expected.encode())
