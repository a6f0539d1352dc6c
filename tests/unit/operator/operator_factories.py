"""Bodies of McpConnections and pods as the API returns them, for the operator's unit tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mcpod_common import vocabulary as v

CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ROUTING_KEY = b"r" * 32
UID = "0b5c9a2e-1111-2222-3333-444455556666"

BodyFactory = Callable[..., dict[str, Any]]


def make_connection_body(
    *,
    name: str = "c-1",
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    **spec: Any,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "owner": "u-alice",
        "slug": "work",
        "organization": "contoso",
        "credentials": {"secretRef": {"name": "alice-pat"}},
    }
    base.update(spec)
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": UID,
            "generation": generation,
            "resourceVersion": "100",
            "creationTimestamp": "2026-01-01T12:00:00Z",
            "annotations": dict(annotations or {}),
        },
        "spec": {k: val for k, val in base.items() if val is not None},
        "status": copy.deepcopy(status or {}),
    }


def make_pod(
    name: str,
    *,
    connection: str = "c-1",
    phase: str = "Running",
    ready: bool = False,
    waiting: tuple[str, str] | None = None,
    restarts: int = 0,
    last_exit: int | None = None,
    terminating: bool = False,
) -> dict[str, Any]:
    """A connection pod as the kubelet reports it."""
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        if waiting
        else {"running": {"startedAt": "2026-01-01T12:00:01Z"}}
    )
    container: dict[str, Any] = {"name": "bridge", "restartCount": restarts, "state": state}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": last_exit}}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "labels": {v.LABEL_CONNECTION: connection, v.LABEL_OWNER: "u-alice"},
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T12:00:05Z"
    return {
        "metadata": meta,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [container],
        },
    }
