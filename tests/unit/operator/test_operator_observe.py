"""Reading a pod's health from the kubelet's report."""

from __future__ import annotations

from typing import Any

import pytest
from mcpod_operator.observe import PodHealth, classify_pod, names_secret
from operator_factories import make_pod


@pytest.mark.parametrize(
    ("pod", "health"),
    [
        (make_pod("p", ready=True), PodHealth.READY),
        (make_pod("p", phase="Pending"), PodHealth.STARTING),
        (make_pod("p"), PodHealth.STARTING),
        (make_pod("p", ready=True, terminating=True), PodHealth.TERMINATING),
        (make_pod("p", phase="Failed"), PodHealth.EXITED),
        (make_pod("p", phase="Succeeded"), PodHealth.EXITED),
        (
            make_pod(
                "p", phase="Pending", waiting=("CreateContainerConfigError", 'secret "x" not found')
            ),
            PodHealth.CONFIG_ERROR,
        ),
        (
            make_pod("p", waiting=("CrashLoopBackOff", "back-off 10s"), restarts=2),
            PodHealth.CRASH_LOOPING,
        ),
        (make_pod("p", restarts=3), PodHealth.CRASH_LOOPING),
        (make_pod("p", restarts=2), PodHealth.STARTING),
        (make_pod("p", ready=True, restarts=5), PodHealth.READY),
        (
            make_pod("p", phase="Pending", waiting=("ErrImagePull", "no such image")),
            PodHealth.IMAGE_UNAVAILABLE,
        ),
        (
            make_pod("p", phase="Pending", waiting=("ImagePullBackOff", "")),
            PodHealth.IMAGE_UNAVAILABLE,
        ),
        (make_pod("p", phase="Pending", waiting=("ContainerCreating", "")), PodHealth.STARTING),
        ({"metadata": {"name": "p"}}, PodHealth.STARTING),
    ],
)
def test_classify(pod: dict[str, Any], health: PodHealth) -> None:
    assert classify_pod(pod).health is health


def test_crash_loop_detail_has_the_exit_code() -> None:
    state = classify_pod(make_pod("p", waiting=("CrashLoopBackOff", ""), restarts=4, last_exit=1))
    assert state.restarts == 4
    assert state.detail == "last exit code 1"


@pytest.mark.parametrize(
    ("message", "name", "about"),
    [
        ('secret "alice-pat" not found', "alice-pat", True),
        ("couldn't find key pat in Secret ns/alice-pat", "alice-pat", True),
        ("couldn't find key pat in Secret alice-pat", "alice-pat", True),
        ('secret "c-1-bridge-1234" not found', "alice-pat", False),
        ('secret "alice-pat-old" not found', "alice-pat", False),
    ],
)
def test_names_secret(message: str, name: str, about: bool) -> None:
    assert names_secret(message, name) is about
