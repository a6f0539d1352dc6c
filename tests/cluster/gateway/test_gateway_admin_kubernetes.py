"""Admin CLI on the kubernetes backend: deleting a user removes their connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gateway_kube_support import KubeWorld
from mcpod_common.vocabulary import LABEL_OWNER, PLURAL


def admin(world: KubeWorld, data_dir: Path, *args: str, stdin: str = "") -> str:
    env = {
        **os.environ,
        **world.gateway_env(),
        "MCPOD_DEV": "1",
        "MCPOD_DATA_DIR": str(data_dir),
        "MCPOD_PUBLIC_URL": "http://localhost:8000",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mcpod_gateway.cli", "admin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def connections_of(world: KubeWorld, owner: str) -> list[str]:
    out = world.control_plane.kubectl(
        "-n", world.namespace, "get", PLURAL, "-l", f"{LABEL_OWNER}={owner}", "-o", "json"
    ).stdout
    return [item["metadata"]["name"] for item in json.loads(out)["items"]]


def test_delete_user_removes_their_connections_and_pat_secrets(
    kube_world: KubeWorld, tmp_path: Path
) -> None:
    alice = admin(kube_world, tmp_path, "create-user", "--name", "Alice")
    bob = admin(kube_world, tmp_path, "create-user", "--name", "Bob")
    for user, slug in ((alice, "work"), (alice, "ops"), (bob, "work")):
        admin(
            kube_world,
            tmp_path,
            "create-connection",
            "--user",
            user,
            "--slug",
            slug,
            "--org",
            "contoso",
            stdin="sentinel-pat-value-0123456789abcdef\n",
        )
    assert len(connections_of(kube_world, alice)) == 2
    secrets_before = kube_world.control_plane.kubectl(
        "-n", kube_world.namespace, "get", "secrets", "-o", "name"
    ).stdout

    admin(kube_world, tmp_path, "delete-user", "--user", alice)

    assert connections_of(kube_world, alice) == []
    assert len(connections_of(kube_world, bob)) == 1, "another user's connection was touched"
    # The PAT Secrets are owned by their McpConnection: the garbage collector removes them.
    alice_secrets = [
        line for line in secrets_before.splitlines() if line.startswith(f"secret/{alice}-")
    ]
    assert alice_secrets, secrets_before
    deadline = time.monotonic() + 30
    left = alice_secrets
    while left and time.monotonic() < deadline:
        now = kube_world.control_plane.kubectl(
            "-n", kube_world.namespace, "get", "secrets", "-o", "name"
        ).stdout.splitlines()
        left = [s for s in alice_secrets if s in now]
        time.sleep(0.2)
    assert left == []
