"""The reconcile decision, pure: (connection, its pods, now, memory of failures) → a Plan.

Level-based: the plan depends only on what is observed now, never on which event arrived, so
running it twice, late, or after a restart converges on the same state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from mcpod_operator import conditions as c
from mcpod_operator.connection import Connection, InvalidConnectionError, Want
from mcpod_operator.observe import PodHealth, classify_pod, is_terminating, names_secret, pod_name
from mcpod_operator.pod import (
    bridge_token_secret_name,
    build_bridge_token_secret,
    build_connection_pod,
    effective_server_version,
)
from mcpod_operator.settings import Settings
from mcpod_operator.timestamps import format_time

# Backoff after a pod exits for good: 10 s, 20 s, 40 s … capped at 5 minutes.
BACKOFF_FIRST: Final = 10.0
BACKOFF_CAP: Final = 300.0
# While waiting for an old pod to go, look again even if its deletion event is missed.
RECHECK_SECONDS: Final = 15.0


def backoff_delay(failures: int) -> float:
    if failures <= 0:
        return 0.0
    return float(min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_CAP))


@dataclass(frozen=True)
class Failures:
    """How often this connection's pod exited for good, and when the next start is allowed."""

    count: int = 0
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Plan:
    status: dict[str, Any]
    create_secret: dict[str, Any] | None = None
    create_pod: dict[str, Any] | None = None
    delete_pods: tuple[str, ...] = ()
    # (type, reason, message) of the Event to post, if the connection changed state.
    event: tuple[str, str, str] | None = None
    requeue_after: float | None = None
    # Something the controller must remember between reconciles.
    pod_exited: bool = False
    pod_ready: bool = False
    forget_bridge_secret: bool = False
    notes: tuple[str, ...] = field(default=())


def _status(
    connection: Connection,
    settings: Settings,
    now: datetime,
    *,
    phase: str,
    ready: bool,
    reason: str,
    message: str,
    pod: str | None,
) -> dict[str, Any]:
    previous = connection.status.get("conditions") or []
    return {
        "phase": phase,
        "podName": pod,
        "serverVersion": effective_server_version(connection, settings),
        "lastActivityTime": format_time(connection.activity_time()),
        "observedGeneration": connection.generation,
        "conditions": [
            c.build_condition(
                type_=c.CONDITION_READY,
                status=ready,
                reason=reason,
                message=message,
                generation=connection.generation,
                now=now,
                previous=previous,
            )
        ],
    }


def _transition_event(
    current: Mapping[str, Any], desired: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """An Event when the phase or the Ready reason changes (not on every reconcile)."""
    conditions = current.get("conditions") or []
    old: Mapping[str, Any] = next((x for x in conditions if x.get("type") == "Ready"), {})
    new = desired["conditions"][0]
    if current.get("phase") == desired["phase"] and old.get("reason") == new["reason"]:
        return None
    kind = "Warning" if new["reason"] in c.WARNING_REASONS else "Normal"
    return (kind, new["reason"], new["message"])


def plan_invalid(
    body: Mapping[str, Any],
    error: InvalidConnectionError,
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
) -> Plan:
    """A resource that cannot become a pod: no pod, phase Failed, say why."""
    meta = body.get("metadata") or {}
    current = body.get("status") or {}
    generation = int(meta.get("generation") or 0)
    status = {
        "phase": c.PHASE_FAILED,
        "podName": None,
        "observedGeneration": generation,
        "conditions": [
            c.build_condition(
                type_=c.CONDITION_READY,
                status=False,
                reason=c.REASON_INVALID_SPEC,
                message=str(error),
                generation=generation,
                now=now,
                previous=current.get("conditions") or [],
            )
        ],
    }
    live = tuple(pod_name(p) for p in pods if not is_terminating(p))
    return Plan(status=status, delete_pods=live, event=_transition_event(current, status))


def plan_connection(
    connection: Connection,
    pods: Sequence[Mapping[str, Any]],
    settings: Settings,
    now: datetime,
    *,
    failures: Failures = Failures(),
    bridge_secret_known: bool = False,
) -> Plan:
    want = connection.want(settings.idle_timeout, now)
    live = [p for p in pods if not is_terminating(p)]

    if want is not Want.POD:
        idle = want is Want.IDLE
        status = _status(
            connection,
            settings,
            now,
            phase=c.PHASE_IDLE if idle else c.PHASE_SUSPENDED,
            ready=False,
            reason=c.REASON_IDLE if idle else c.REASON_SUSPENDED,
            message=(
                "no activity for the idle timeout; the next call wakes it"
                if idle
                else "suspended: no pod runs until spec.suspended is false"
            ),
            pod=None,
        )
        # Waking is event-driven (the gateway's last-activity stamp), so no requeue.
        return Plan(
            status=status,
            delete_pods=tuple(pod_name(p) for p in live),
            event=_transition_event(connection.status, status),
        )

    until_idle = (connection.idle_deadline(settings.idle_timeout) - now).total_seconds()
    desired = build_connection_pod(connection, settings)
    desired_name = desired["metadata"]["name"]
    stale = tuple(pod_name(p) for p in live if pod_name(p) != desired_name)
    match = next((p for p in pods if pod_name(p) == desired_name), None)

    def finish(
        *,
        phase: str,
        ready: bool,
        reason: str,
        message: str,
        pod: str | None,
        requeue: float | None = None,
        **extra: Any,
    ) -> Plan:
        status = _status(
            connection,
            settings,
            now,
            phase=phase,
            ready=ready,
            reason=reason,
            message=message,
            pod=pod,
        )
        after = until_idle if requeue is None else min(requeue, until_idle)
        extra.setdefault("delete_pods", stale)
        return Plan(
            status=status,
            event=_transition_event(connection.status, status),
            requeue_after=max(after, 0.0),
            **extra,
        )

    if match is None:
        others = [p for p in pods if pod_name(p) != desired_name]
        if others:
            # Replace, never overlap: the old pod may hold an old PAT or wider tool access, so
            # the new one starts only when the old one is gone (its deletion event wakes us).
            return finish(
                phase=c.PHASE_STARTING,
                ready=False,
                reason=c.REASON_RECYCLING,
                message="the configuration changed; replacing the pod",
                pod=None,
                requeue=RECHECK_SECONDS,
            )
        if failures.retry_at is not None and now < failures.retry_at:
            wait = (failures.retry_at - now).total_seconds()
            return finish(
                phase=c.PHASE_FAILED,
                ready=False,
                reason=c.REASON_CRASH_LOOPING,
                message=(f"the pod exited {failures.count} time(s); next start in {wait:.0f}s"),
                pod=None,
                requeue=wait,
            )
        return finish(
            phase=c.PHASE_STARTING,
            ready=False,
            reason=c.REASON_STARTING,
            message="creating the pod",
            pod=desired_name,
            create_pod=desired,
            create_secret=(
                None if bridge_secret_known else build_bridge_token_secret(connection, settings)
            ),
        )

    state = classify_pod(match)
    if state.health is PodHealth.READY:
        return finish(
            phase=c.PHASE_READY,
            ready=True,
            reason=c.REASON_POD_READY,
            message="the pod is ready",
            pod=desired_name,
            pod_ready=True,
        )
    if state.health is PodHealth.CONFIG_ERROR:
        bridge_secret = bridge_token_secret_name(connection, settings)
        if names_secret(state.detail, bridge_secret):
            # Our own Secret went missing (deleted by hand): create it again; the kubelet
            # retries the container by itself.
            return finish(
                phase=c.PHASE_STARTING,
                ready=False,
                reason=c.REASON_STARTING,
                message="re-creating the bridge-token Secret",
                pod=desired_name,
                create_secret=build_bridge_token_secret(connection, settings),
                forget_bridge_secret=True,
            )
        # The kubelet keeps the pod and retries with its own backoff; once the Secret exists
        # the pod starts without the operator doing anything.
        return finish(
            phase=c.PHASE_FAILED,
            ready=False,
            reason=c.REASON_CREDENTIALS_MISSING,
            message=(
                f"the credentials Secret {connection.secret_name!r} is missing or has no key "
                "'pat'; create it and the pod starts"
            ),
            pod=desired_name,
        )
    if state.health is PodHealth.IMAGE_UNAVAILABLE:
        return finish(
            phase=c.PHASE_FAILED,
            ready=False,
            reason=c.REASON_IMAGE_UNAVAILABLE,
            message=(
                f"no connection image for server version "
                f"{effective_server_version(connection, settings)} ({state.detail})"
            ),
            pod=desired_name,
        )
    if state.health is PodHealth.CRASH_LOOPING:
        detail = f" ({state.detail})" if state.detail else ""
        return finish(
            phase=c.PHASE_FAILED,
            ready=False,
            reason=c.REASON_CRASH_LOOPING,
            message=(
                f"the bridge restarted {state.restarts} time(s){detail}; "
                "the kubelet backs off between restarts"
            ),
            pod=desired_name,
        )
    if state.health is PodHealth.EXITED:
        count = failures.count + 1
        return finish(
            phase=c.PHASE_FAILED,
            ready=False,
            reason=c.REASON_CRASH_LOOPING,
            message=(
                f"the pod exited {count} time(s) ({state.detail}); "
                f"next start in {backoff_delay(count):.0f}s"
            ),
            pod=None,
            requeue=backoff_delay(count),
            delete_pods=(*stale, desired_name),
            pod_exited=True,
        )
    # STARTING or TERMINATING (someone else deleted our pod: its deletion event brings us back).
    return finish(
        phase=c.PHASE_STARTING,
        ready=False,
        reason=c.REASON_STARTING,
        message="waiting for the pod to become ready",
        pod=desired_name,
        requeue=RECHECK_SECONDS if state.health is PodHealth.TERMINATING else None,
    )


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that turns the current status into the desired one, or None if equal.

    Skipping equal writes matters: every status write is an event that triggers a reconcile.
    """
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if current.get(key) != value:
            patch[key] = value
    return patch or None
