"""Which pod a caller's request may go to: the label re-check, as one pure function.

The pod cache is selected by labels already, but a cache can be stale and a
label selector is only a query: before anything (including the bridge token)
is sent to a pod, its own labels and owner reference are checked again against
the caller and the connection.  A pod that fails any check is never used, even
if it sits at the expected name or IP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mcpod_common.vocabulary import (
    APP_NAME_CONNECTION,
    BRIDGE_PORT,
    KIND,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_OWNER,
)


def pod_may_serve(
    pod: Mapping[str, Any], *, owner: str, connection: str, connection_uid: str
) -> bool:
    """True only for a live, Ready pod labelled with this owner and connection, controlled by it."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(LABEL_OWNER) != owner or labels.get(LABEL_CONNECTION) != connection:
        return False
    if labels.get(LABEL_APP_NAME) != APP_NAME_CONNECTION:
        return False
    if meta.get("deletionTimestamp"):
        return False
    owners = meta.get("ownerReferences") or []
    if not any(
        ref.get("kind") == KIND
        and ref.get("uid") == connection_uid
        and ref.get("name") == connection
        for ref in owners
    ):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    conditions = status.get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def select_pod(
    pods: Iterable[Mapping[str, Any]], *, owner: str, connection: str, connection_uid: str
) -> Mapping[str, Any] | None:
    """The newest pod that passes :func:`pod_may_serve`, or None."""
    eligible = [
        p
        for p in pods
        if pod_may_serve(p, owner=owner, connection=connection, connection_uid=connection_uid)
    ]
    if not eligible:
        return None
    return max(eligible, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))


def pod_bridge_url(pod: Mapping[str, Any]) -> str:
    ip = str((pod.get("status") or {})["podIP"])
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{BRIDGE_PORT}/mcp"
