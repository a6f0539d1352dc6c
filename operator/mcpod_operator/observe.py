"""Read a connection pod's state from what the kubelet reports (pure).

The operator may not read Secrets, so it learns that the PAT Secret is missing the way a person
would: the kubelet cannot build the container's environment and says so in the container's
waiting state (``CreateContainerConfigError``, message ``secret "x" not found`` or
``couldn't find key pat in Secret ns/x``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# Kubelet waiting reasons.
_CONFIG_ERROR: Final = "CreateContainerConfigError"
_CRASH_LOOP: Final = "CrashLoopBackOff"
_IMAGE_REASONS: Final = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# A container that restarted this often without becoming ready counts as crash-looping even
# if the kubelet has not (yet) reported CrashLoopBackOff.
CRASH_RESTARTS: Final = 3


class PodHealth(enum.Enum):
    READY = "ready"
    STARTING = "starting"
    TERMINATING = "terminating"
    CONFIG_ERROR = "config-error"  # a Secret (or key) the pod refers to is missing
    CRASH_LOOPING = "crash-looping"
    IMAGE_UNAVAILABLE = "image-unavailable"
    EXITED = "exited"  # phase Failed or Succeeded: the pod will not run again


@dataclass(frozen=True)
class PodState:
    health: PodHealth
    detail: str = ""
    restarts: int = 0


def pod_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _is_ready(status: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def classify_pod(pod: Mapping[str, Any]) -> PodState:
    if is_terminating(pod):
        return PodState(PodHealth.TERMINATING)
    status = pod.get("status") or {}
    phase = status.get("phase")
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    if phase in ("Failed", "Succeeded"):
        reason = str(status.get("reason") or status.get("message") or phase)
        return PodState(PodHealth.EXITED, reason, restarts)
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        message = str(waiting.get("message") or "")
        if reason == _CONFIG_ERROR:
            return PodState(PodHealth.CONFIG_ERROR, message, restarts)
        if reason in _IMAGE_REASONS:
            return PodState(PodHealth.IMAGE_UNAVAILABLE, str(reason), restarts)
        if reason == _CRASH_LOOP:
            return PodState(PodHealth.CRASH_LOOPING, _last_exit(container), restarts)
    if _is_ready(status):
        return PodState(PodHealth.READY, restarts=restarts)
    if restarts >= CRASH_RESTARTS:
        worst = max(containers, key=lambda c: int(c.get("restartCount") or 0))
        return PodState(PodHealth.CRASH_LOOPING, _last_exit(worst), restarts)
    return PodState(PodHealth.STARTING, restarts=restarts)


def _last_exit(container: Mapping[str, Any]) -> str:
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    if "exitCode" in terminated:
        return f"last exit code {terminated['exitCode']}"
    return ""


def names_secret(message: str, secret_name: str) -> bool:
    """Whether a kubelet config-error message is about this Secret (quoted or as ns/name)."""
    return (
        f'"{secret_name}"' in message
        or message.endswith(f"/{secret_name}")
        or message.endswith(f" {secret_name}")
    )
