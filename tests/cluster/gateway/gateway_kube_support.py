"""Gateway-on-Kubernetes helpers: a namespace, the real operator as a process, keys they share."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.cluster import ControlPlaneHandle
from mcpod_common.vocabulary import FAKE_SERVER_VERSION


@dataclass
class KubeWorld:
    control_plane: ControlPlaneHandle
    namespace: str
    routing_key: str
    operator: subprocess.Popen[bytes] | None = None

    def gateway_env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.control_plane.kubeconfig),
            "MCPOD_BACKEND": "kubernetes",
            "MCPOD_NAMESPACE": self.namespace,
            "MCPOD_ROUTING_KEY": self.routing_key,
        }


def create_namespace(control_plane: ControlPlaneHandle) -> str:
    name = f"gw-{secrets.token_hex(4)}"
    control_plane.kubectl("create", "namespace", name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (
            control_plane.kubectl(
                "-n", name, "get", "serviceaccount", "default", check=False
            ).returncode
            == 0
        ):
            return name
        time.sleep(0.1)
    raise RuntimeError(f"namespace {name} has no default ServiceAccount")


def start_operator(
    world: KubeWorld, log_path: Path, server_version: str = FAKE_SERVER_VERSION
) -> subprocess.Popen[bytes]:
    env = {
        **world.control_plane.env,
        "MCPOD_ROUTING_KEY": world.routing_key,
        "MCPOD_SERVER_VERSION": server_version,
        "MCPOD_IDLE_TIMEOUT": "10m",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mcpod_operator.cli",
                "-n",
                world.namespace,
                "--no-leader-election",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def kube_world(control_plane: ControlPlaneHandle) -> Iterator[KubeWorld]:
    """A fresh namespace and routing key; the operator is started by the test when it wants one."""
    world = KubeWorld(control_plane, create_namespace(control_plane), secrets.token_hex(32))
    try:
        yield world
    finally:
        stop_process(world.operator)
        control_plane.kubectl("delete", "namespace", world.namespace, "--wait=false", check=False)
