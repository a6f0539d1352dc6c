"""Pure builder for the Kubernetes Events the operator posts on a connection's transitions."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Final

from mcpod_common.vocabulary import API_VERSION, KIND, MANAGED_BY_OPERATOR

from mcpod_operator.timestamps import format_time

# Kubernetes caps an Event's message at 1 KiB.
MAX_MESSAGE: Final = 1024


def build_event(
    *,
    namespace: str,
    name: str,
    uid: str,
    type_: str,
    reason: str,
    message: str,
    now: datetime,
    instance: str,
) -> dict[str, Any]:
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            # Unique like kubectl's: the object name plus a random suffix.
            "name": f"{name}.{secrets.token_hex(8)}",
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": MANAGED_BY_OPERATOR, "host": instance[:253]},
    }
