"""The pure reconcile plan: every phase, recycle ordering, backoff, idempotence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from mcpod_common import vocabulary as v
from mcpod_operator import conditions as c
from mcpod_operator.connection import InvalidConnectionError, parse_connection
from mcpod_operator.pod import bridge_token_secret_name, build_connection_pod
from mcpod_operator.reconcile import (
    Failures,
    backoff_delay,
    plan_connection,
    plan_invalid,
    status_patch,
)
from mcpod_operator.settings import Settings
from operator_factories import CREATED, BodyFactory, make_pod

SOON = CREATED + timedelta(minutes=1)


def _ready(plan_status: dict[str, Any]) -> dict[str, Any]:
    (condition,) = plan_status["conditions"]
    assert condition["type"] == c.CONDITION_READY
    return condition


def _desired_name(body: dict[str, Any], settings: Settings) -> str:
    return str(build_connection_pod(parse_connection(body), settings)["metadata"]["name"])


def test_new_connection_creates_secret_and_pod(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body()
    plan = plan_connection(parse_connection(body), [], settings, SOON)
    assert plan.create_pod is not None
    assert plan.create_secret is not None
    assert plan.delete_pods == ()
    assert plan.status["phase"] == c.PHASE_STARTING
    assert plan.status["podName"] == plan.create_pod["metadata"]["name"]
    assert plan.status["observedGeneration"] == 1
    assert plan.status["serverVersion"] == "2.10.0"
    assert plan.status["lastActivityTime"] == "2026-01-01T12:00:00Z"
    assert _ready(plan.status)["status"] == "False"
    assert _ready(plan.status)["reason"] == c.REASON_STARTING
    assert plan.event == ("Normal", c.REASON_STARTING, "creating the pod")
    # Back at the idle deadline (9 minutes away), not before.
    assert plan.requeue_after == pytest.approx(540)


def test_known_secret_is_not_created_again(
    connection_body: BodyFactory, settings: Settings
) -> None:
    plan = plan_connection(
        parse_connection(connection_body()), [], settings, SOON, bridge_secret_known=True
    )
    assert plan.create_secret is None
    assert plan.create_pod is not None


def test_ready_pod(connection_body: BodyFactory, settings: Settings) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    plan = plan_connection(parse_connection(body), [make_pod(name, ready=True)], settings, SOON)
    assert plan.create_pod is None
    assert plan.delete_pods == ()
    assert plan.status["phase"] == c.PHASE_READY
    assert plan.status["podName"] == name
    assert _ready(plan.status) | {"lastTransitionTime": "-"} == {
        "type": "Ready",
        "status": "True",
        "reason": c.REASON_POD_READY,
        "message": "the pod is ready",
        "lastTransitionTime": "-",
        "observedGeneration": 1,
    }
    assert plan.pod_ready


def test_reconcile_is_idempotent(connection_body: BodyFactory, settings: Settings) -> None:
    """Planning again from the status we wrote changes nothing and posts no event."""
    body = connection_body()
    name = _desired_name(body, settings)
    pods = [make_pod(name, ready=True)]
    first = plan_connection(parse_connection(body), pods, settings, SOON)
    again_body = connection_body(status=first.status)
    later = SOON + timedelta(seconds=30)
    second = plan_connection(parse_connection(again_body), pods, settings, later)
    assert status_patch(first.status, second.status) is None
    assert second.event is None
    assert second.create_pod is None
    assert second.delete_pods == ()


def test_transition_time_moves_only_when_status_flips(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    starting = plan_connection(parse_connection(body), [make_pod(name)], settings, SOON).status
    later = SOON + timedelta(seconds=20)
    # Still not ready, different reason: same transition time.
    crash = plan_connection(
        parse_connection(connection_body(status=starting)),
        [make_pod(name, waiting=("CrashLoopBackOff", ""), restarts=3)],
        settings,
        later,
    ).status
    assert _ready(crash)["lastTransitionTime"] == _ready(starting)["lastTransitionTime"]
    ready = plan_connection(
        parse_connection(connection_body(status=crash)),
        [make_pod(name, ready=True)],
        settings,
        later,
    ).status
    assert _ready(ready)["lastTransitionTime"] == "2026-01-01T12:01:20Z"


@pytest.mark.parametrize(
    ("spec", "annotations", "phase", "reason"),
    [
        ({"suspended": True}, {}, c.PHASE_SUSPENDED, c.REASON_SUSPENDED),
        ({"idleTimeout": "30s"}, {}, c.PHASE_IDLE, c.REASON_IDLE),
        (
            {"idleTimeout": "5m"},
            {v.ANNOTATION_LAST_ACTIVITY: "2026-01-01T11:00:00Z"},
            c.PHASE_READY,  # stamp older than creation: creation counts, 1m < 5m
            c.REASON_POD_READY,
        ),
    ],
)
def test_scale_to_zero(
    connection_body: BodyFactory,
    settings: Settings,
    spec: dict[str, Any],
    annotations: dict[str, str],
    phase: str,
    reason: str,
) -> None:
    body = connection_body(annotations=annotations, **spec)
    running = make_pod(_desired_name(body, settings), ready=True)
    plan = plan_connection(parse_connection(body), [running], settings, SOON)
    assert plan.status["phase"] == phase
    assert _ready(plan.status)["reason"] == reason
    if phase in (c.PHASE_IDLE, c.PHASE_SUSPENDED):
        assert plan.delete_pods == (running["metadata"]["name"],)
        assert plan.status["podName"] is None
        assert plan.create_pod is None
        assert plan.requeue_after is None  # waking is event-driven
        assert plan.event is not None
        assert plan.event[0] == "Normal"


def test_idle_does_not_delete_a_terminating_pod_again(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body(suspended=True)
    pods = [make_pod(_desired_name(body, settings), terminating=True)]
    assert plan_connection(parse_connection(body), pods, settings, SOON).delete_pods == ()


def test_wake_creates_the_pod(connection_body: BodyFactory, settings: Settings) -> None:
    idle_status = {"phase": c.PHASE_IDLE, "conditions": []}
    woken = connection_body(
        status=idle_status, annotations={v.ANNOTATION_LAST_ACTIVITY: "2026-01-02T08:00:00Z"}
    )
    now = CREATED + timedelta(days=1, hours=-4, seconds=1)
    plan = plan_connection(parse_connection(woken), [], settings, now)
    assert plan.create_pod is not None
    assert plan.status["phase"] == c.PHASE_STARTING
    assert plan.status["lastActivityTime"] == "2026-01-02T08:00:00Z"


def test_recycle_deletes_the_old_pod_before_creating(
    connection_body: BodyFactory, settings: Settings
) -> None:
    old_body = connection_body()
    old = make_pod(_desired_name(old_body, settings), ready=True)
    changed = parse_connection(connection_body(readOnly=True))
    first = plan_connection(changed, [old], settings, SOON)
    assert first.delete_pods == (old["metadata"]["name"],)
    assert first.create_pod is None  # never two pods with different configs at once
    assert first.status["phase"] == c.PHASE_STARTING
    assert _ready(first.status)["reason"] == c.REASON_RECYCLING
    # While it terminates: wait, don't delete again.
    terminating = make_pod(old["metadata"]["name"], terminating=True)
    second = plan_connection(changed, [terminating], settings, SOON)
    assert second.delete_pods == ()
    assert second.create_pod is None
    # Gone: create the new one.
    third = plan_connection(changed, [], settings, SOON)
    assert third.create_pod is not None
    assert third.create_pod["metadata"]["name"] != old["metadata"]["name"]


def test_stray_duplicate_is_removed(connection_body: BodyFactory, settings: Settings) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    pods = [make_pod(name, ready=True), make_pod("c-1-0123456789", ready=True)]
    plan = plan_connection(parse_connection(body), pods, settings, SOON)
    assert plan.delete_pods == ("c-1-0123456789",)
    assert plan.status["phase"] == c.PHASE_READY


def test_missing_credentials(connection_body: BodyFactory, settings: Settings) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    pod = make_pod(
        name,
        phase="Pending",
        waiting=("CreateContainerConfigError", 'secret "alice-pat" not found'),
    )
    plan = plan_connection(parse_connection(body), [pod], settings, SOON)
    assert plan.status["phase"] == c.PHASE_FAILED
    assert _ready(plan.status)["reason"] == c.REASON_CREDENTIALS_MISSING
    assert "alice-pat" in _ready(plan.status)["message"]
    assert plan.event is not None
    assert plan.event[:2] == ("Warning", c.REASON_CREDENTIALS_MISSING)
    # The pod stays: the kubelet retries it with its own backoff.
    assert plan.delete_pods == ()
    assert plan.create_pod is None


def test_missing_bridge_secret_is_recreated(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    secret = bridge_token_secret_name(parse_connection(body), settings)
    message = f'secret "{secret}" not found'
    pod = make_pod(name, phase="Pending", waiting=("CreateContainerConfigError", message))
    plan = plan_connection(parse_connection(body), [pod], settings, SOON, bridge_secret_known=True)
    assert plan.create_secret is not None
    assert plan.forget_bridge_secret
    assert plan.status["phase"] == c.PHASE_STARTING


def test_crash_loop_reported_and_left_to_the_kubelet(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body(status={"phase": c.PHASE_STARTING})
    name = _desired_name(body, settings)
    pod = make_pod(name, waiting=("CrashLoopBackOff", "back-off"), restarts=4, last_exit=1)
    plan = plan_connection(parse_connection(body), [pod], settings, SOON)
    assert plan.status["phase"] == c.PHASE_FAILED
    assert _ready(plan.status)["reason"] == c.REASON_CRASH_LOOPING
    assert "4 time(s)" in _ready(plan.status)["message"]
    assert "last exit code 1" in _ready(plan.status)["message"]
    assert plan.event is not None
    assert plan.event[0] == "Warning"
    assert plan.delete_pods == ()
    assert plan.create_pod is None


def test_exited_pod_is_replaced_after_a_backoff(
    connection_body: BodyFactory, settings: Settings
) -> None:
    body = connection_body()
    name = _desired_name(body, settings)
    connection = parse_connection(body)
    exited = plan_connection(connection, [make_pod(name, phase="Failed")], settings, SOON)
    assert exited.pod_exited
    assert exited.delete_pods == (name,)
    assert exited.requeue_after == pytest.approx(backoff_delay(1))
    failures = Failures(1, SOON + timedelta(seconds=backoff_delay(1)))
    waiting = plan_connection(connection, [], settings, SOON, failures=failures)
    assert waiting.create_pod is None
    assert waiting.status["phase"] == c.PHASE_FAILED
    assert waiting.requeue_after == pytest.approx(backoff_delay(1))
    later = SOON + timedelta(seconds=backoff_delay(1) + 1)
    retried = plan_connection(connection, [], settings, later, failures=failures)
    assert retried.create_pod is not None


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0), (1, 10), (2, 20), (3, 40), (6, 300), (50, 300)]
)
def test_backoff_grows_and_caps(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


def test_missing_image(connection_body: BodyFactory, settings: Settings) -> None:
    body = connection_body(serverVersion="9.9.9")
    pod = make_pod(_desired_name(body, settings), phase="Pending", waiting=("ErrImagePull", "x"))
    plan = plan_connection(parse_connection(body), [pod], settings, SOON)
    assert _ready(plan.status)["reason"] == c.REASON_IMAGE_UNAVAILABLE
    assert "9.9.9" in _ready(plan.status)["message"]


def test_invalid_resource(connection_body: BodyFactory) -> None:
    body = connection_body(name="c" * 64)
    pods = [make_pod("c-old", ready=True)]
    try:
        parse_connection(body)
    except InvalidConnectionError as error:
        plan = plan_invalid(body, error, pods, SOON)
    else:
        pytest.fail("expected an invalid connection")
    assert plan.status["phase"] == c.PHASE_FAILED
    assert _ready(plan.status)["reason"] == c.REASON_INVALID_SPEC
    assert plan.delete_pods == ("c-old",)
    assert plan.event is not None
    assert plan.event[0] == "Warning"


def test_status_patch_only_changes() -> None:
    current = {"phase": "Ready", "podName": "p", "conditions": [{"type": "Ready"}]}
    assert status_patch(current, dict(current)) is None
    assert status_patch(current, {**current, "phase": "Idle", "podName": None}) == {
        "phase": "Idle",
        "podName": None,
    }
