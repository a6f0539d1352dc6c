"""Starting and stopping dev clusters: the CLI, and an aborted test run leaving nothing behind."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from mcpod_devcluster.processes import processes_of_cluster


def wait_until_empty(cluster_id: str, within: float) -> list[int]:
    deadline = time.monotonic() + within
    left = processes_of_cluster(cluster_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_of_cluster(cluster_id)
    return left


def test_cli_up_env_status_down(tmp_path: Path) -> None:
    cluster_id = "cli-" + secrets.token_hex(4)
    env = dict(os.environ)
    state = ["mcpod-dev-cluster", "--state-dir", str(tmp_path)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*state, *args], env=env, capture_output=True, text=True, timeout=240, check=False
        )

    assert run("status").returncode == 1
    assert run("env").returncode == 1
    try:
        up = run("up", "--cluster-id", cluster_id)
        assert up.returncode == 0, up.stderr
        export = f"export KUBECONFIG={tmp_path / 'kubeconfig'}"
        assert up.stdout.strip() == export
        assert run("env").stdout.strip() == export
        # A second `up` finds it running and says so instead of starting another.
        again = run("up")
        assert again.returncode == 0
        assert "already running" in again.stderr
        assert run("status").returncode == 0
        nodes = subprocess.run(
            ["kubectl", "get", "nodes", "-o", "name"],
            env={**env, "KUBECONFIG": str(tmp_path / "kubeconfig")},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert "node/mcpod-process-node" in nodes.stdout
        assert len(processes_of_cluster(cluster_id)) >= 4  # reaper, etcd, apiserver, kcm
    finally:
        down = run("down")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert wait_until_empty(cluster_id, within=10) == []
    assert run("status").returncode == 1


def test_bad_cli_input_is_refused_clearly(tmp_path: Path) -> None:
    base = ["mcpod-dev-cluster", "--state-dir", str(tmp_path)]
    missing = subprocess.run(
        [*base, "up", "--image-map", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    unknown = subprocess.run(
        [*base, "sideways"], capture_output=True, text=True, timeout=30, check=False
    )
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr
    no_pod = subprocess.run(
        [*base, "logs", "default", "nobody"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert no_pod.returncode == 1
    assert "no pod default/nobody" in no_pod.stderr


def test_aborted_run_leaves_no_stray_processes(tmp_path: Path) -> None:
    """SIGKILL the process that owns a cluster while a pod runs a process tree."""
    cluster_id = "abort-" + secrets.token_hex(4)
    program = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from pathlib import Path
        from mcpod_devcluster.cli import start_supervisor, wait_ready
        state_dir = Path({str(tmp_path)!r})
        proc = start_supervisor(state_dir, detach=False, cluster_id={cluster_id!r})
        state = wait_ready(state_dir, proc, 240)
        pod = '''
        apiVersion: v1
        kind: Pod
        metadata: {{name: tree}}
        spec:
          containers:
          - name: app
            image: mcpod/process
            command: ["/bin/sh", "-c", "sleep 600 & sleep 600; wait"]
        '''
        subprocess.run(["kubectl", "--kubeconfig", state.kubeconfig, "apply", "-f", "-"],
                       input=pod, text=True, check=True, capture_output=True)
        print("READY", flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "READY"
        # Wait until the pod's shell and its two sleeps run.
        deadline = time.monotonic() + 30
        sleepers: list[int] = []
        while time.monotonic() < deadline and len(sleepers) < 2:
            sleepers = [
                pid
                for pid in processes_of_cluster(cluster_id)
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
            ]
            time.sleep(0.1)
        assert len(sleepers) == 2, "the pod's process tree did not start"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        if owner.stdout is not None:
            owner.stdout.close()
    assert wait_until_empty(cluster_id, within=15) == []
