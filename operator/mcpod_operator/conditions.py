"""Phases, condition types and reasons of a McpConnection's status, and the condition builder.

The reasons are a public vocabulary: admins read them in ``kubectl get mcpc`` / ``describe``,
the gateway reads them to explain to an agent why a connection cannot answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from mcpod_operator.timestamps import format_time

# status.phase
PHASE_PENDING: Final = "Pending"  # wants a pod, but creating it failed (API error, quota, …)
PHASE_STARTING: Final = "Starting"  # a pod exists (or is being replaced) and is not Ready yet
PHASE_READY: Final = "Ready"  # the pod answers /readyz: the gateway may route to it
PHASE_IDLE: Final = "Idle"  # no activity for idleTimeout: scaled to zero, woken by the gateway
PHASE_SUSPENDED: Final = "Suspended"  # spec.suspended: no pod whatever the activity
PHASE_FAILED: Final = "Failed"  # needs a person: missing credentials, crash loop, bad image

# The one condition type (what printer columns and the gateway read).
CONDITION_READY: Final = "Ready"

# Ready=True
REASON_POD_READY: Final = "PodReady"  # the pod passed its readiness probe
# Ready=False
REASON_STARTING: Final = "Starting"  # the pod was created and is starting
REASON_RECYCLING: Final = "Recycling"  # the config changed: the old pod goes before the new one
REASON_IDLE: Final = "Idle"  # scaled to zero after idleTimeout
REASON_SUSPENDED: Final = "Suspended"  # spec.suspended is true
REASON_CREDENTIALS_MISSING: Final = "CredentialsMissing"  # the kubelet cannot find the PAT Secret
REASON_CRASH_LOOPING: Final = "CrashLooping"  # the bridge keeps exiting; restarts are backed off
REASON_IMAGE_UNAVAILABLE: Final = "ImageUnavailable"  # no image for this server version
REASON_INVALID_SPEC: Final = "InvalidSpec"  # the resource cannot be turned into a pod
REASON_CREATE_FAILED: Final = "CreateFailed"  # the API refused the pod or Secret (quota, policy)

# Reasons that need a person's attention: posted as Warning events.
WARNING_REASONS: Final = frozenset(
    {
        REASON_CREDENTIALS_MISSING,
        REASON_CRASH_LOOPING,
        REASON_IMAGE_UNAVAILABLE,
        REASON_INVALID_SPEC,
        REASON_CREATE_FAILED,
    }
)


def build_condition(
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A Kubernetes-style condition; lastTransitionTime moves only when the status flips."""
    status_text = "True" if status else "False"
    transition = format_time(now)
    for old in previous:
        if old.get("type") == type_ and old.get("status") == status_text:
            transition = str(old.get("lastTransitionTime") or transition)
            break
    return {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
