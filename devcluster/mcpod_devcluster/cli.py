"""mcpod-dev-cluster up|down|env|status|logs — a real control plane for development."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .processes import sweep
from .state import ClusterState, default_state_dir, pid_alive, pod_log

UP_TIMEOUT = 180.0


def export_line(state: ClusterState) -> str:
    return f"export KUBECONFIG={state.kubeconfig}"


def start_supervisor(
    state_dir: Path,
    *,
    image_map: Path | None = None,
    detach: bool = True,
    cluster_id: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the supervisor process with a clean state directory."""
    for leftover in ("etcd", "pods", "pki", "logs", "state.json"):
        path = state_dir / leftover
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mcpod_devcluster.supervisor", "--state-dir", str(state_dir)]
    if image_map is not None:
        argv += ["--image-map", str(image_map)]
    if cluster_id is not None:
        argv += ["--cluster-id", cluster_id]
    from .processes import die_with_parent

    # The child keeps its own copy of the log descriptor.
    with (state_dir / "supervisor.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            # Under a test run the cluster dies with the run; `up` detaches it.
            preexec_fn=None if detach else die_with_parent,
        )


def wait_ready(state_dir: Path, proc: subprocess.Popen[bytes], timeout: float) -> ClusterState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = ClusterState.read(state_dir)
        if state is not None and state.pid == proc.pid:
            return state
        if proc.poll() is not None:
            tail = (state_dir / "supervisor.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"dev cluster failed to start (exit {proc.returncode}):\n{tail}")
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(
        f"dev cluster not ready after {timeout:.0f}s; see {state_dir}/supervisor.log"
    )


def stop_cluster(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the supervisor (which stops its children in order); sweep any stray."""
    state = ClusterState.read(state_dir)
    if state is None:
        return False
    if pid_alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)
    sweep(state.cluster_id, rounds=50)
    (state_dir / "state.json").unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mcpod-dev-cluster",
        description="A real Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager) plus a process kubelet, for development and tests.",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="default: ~/.cache/mcpod/dev-cluster"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start in the background and print the KUBECONFIG export")
    up.add_argument("--image-map", type=Path, help="JSON file with extra image → command entries")
    up.add_argument("--timeout", type=float, default=UP_TIMEOUT)
    up.add_argument("--cluster-id", default=None, help=argparse.SUPPRESS)
    sub.add_parser("down", help="stop everything; no process is left behind")
    sub.add_parser("env", help="print the KUBECONFIG export again")
    sub.add_parser("status", help="say whether the cluster is running")
    logs = sub.add_parser("logs", help="print a container's log (kubectl logs cannot reach us)")
    logs.add_argument("namespace")
    logs.add_argument("pod")
    logs.add_argument("-c", "--container", default=None)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir or default_state_dir()
    state = ClusterState.read(state_dir)
    running = state is not None and pid_alive(state.pid)

    if args.command == "up":
        if running and state is not None:
            print(f"# dev cluster already running (pid {state.pid})", file=sys.stderr)
            print(export_line(state))
            return 0
        if args.image_map is not None and not args.image_map.is_file():
            print(f"mcpod-dev-cluster: --image-map {args.image_map}: no such file", file=sys.stderr)
            return 2
        t0 = time.monotonic()
        proc = start_supervisor(state_dir, image_map=args.image_map, cluster_id=args.cluster_id)
        try:
            state = wait_ready(state_dir, proc, args.timeout)
        except RuntimeError as exc:
            print(f"mcpod-dev-cluster: {exc}", file=sys.stderr)
            return 1
        print(
            f"# dev cluster up in {time.monotonic() - t0:.1f}s "
            f"(API server {state.server}); stop it with: mcpod-dev-cluster down",
            file=sys.stderr,
        )
        print(export_line(state))
        return 0
    if args.command == "env":
        if not running or state is None:
            print(
                "mcpod-dev-cluster: not running; start it with: mcpod-dev-cluster up",
                file=sys.stderr,
            )
            return 1
        print(export_line(state))
        return 0
    if args.command == "status":
        if running and state is not None:
            print(f"running: pid {state.pid}, API server {state.server}")
            print(f"kubeconfig: {state.kubeconfig}")
            return 0
        print("not running")
        return 1
    if args.command == "down":
        if stop_cluster(state_dir):
            print("dev cluster stopped")
        else:
            print("dev cluster was not running")
        return 0
    if args.command == "logs":
        container = args.container or args.pod
        text = pod_log(state_dir, args.namespace, args.pod, container)
        if not text and not list((state_dir / "pods").glob(f"{args.namespace}_{args.pod}_*")):
            print(
                f"mcpod-dev-cluster: no pod {args.namespace}/{args.pod} has run here",
                file=sys.stderr,
            )
            return 1
        sys.stdout.write(text)
        return 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
