"""Benchmark the development control plane.

Prints and writes tests/bench/results/devcluster.md:
- build of kube-apiserver, kube-controller-manager and etcd: cold (empty Go build
  cache, warm module cache; only with --cold, it takes minutes) and warm rebuild;
- `up` → ready: median (and spread) of 5 starts;
- resident memory of each control-plane process at rest.

Usage: python3 tests/bench/bench_devcluster.py [--cold] [--starts N]
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mcpod_devcluster.cli import start_supervisor, stop_cluster, wait_ready
from mcpod_devcluster.processes import processes_of_cluster

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "tools" / "k8s"
RESULTS = REPO / "tests" / "bench" / "results" / "devcluster.md"
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")


def build_all(out: Path, env: dict[str, str]) -> dict[str, float]:
    version = next(
        line.split()[-1]
        for line in (K8S / "go.mod").read_text().splitlines()
        if "k8s.io/kubernetes v" in line
    )
    ldflags = f"-s -w -X k8s.io/component-base/version.gitVersion={version}"
    times = {}
    for name in BINARIES:
        t0 = time.monotonic()
        subprocess.run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                ldflags,
                "-o",
                str(out / name),
                f"./cmd/{name}",
            ],
            cwd=K8S,
            env={**env, "CGO_ENABLED": "0"},
            check=True,
        )
        times[name] = time.monotonic() - t0
    return times


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time a cold build (minutes)")
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    lines = [
        "# Development control plane",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{subprocess.run(['go', 'version'], capture_output=True, text=True).stdout.strip()}.",
        "",
    ]

    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            cache = Path(tmp) / "gocache"
            cold = build_all(Path(tmp) / "cold", {**os.environ, "GOCACHE": str(cache)})
            lines += ["## Cold build (empty build cache, module cache warm)", ""]
            lines += [f"- {n}: {s:.0f} s" for n, s in cold.items()]
            lines += [f"- total: {sum(cold.values()):.0f} s", ""]
            print("cold build:", {n: round(s) for n, s in cold.items()})
        warm = build_all(Path(tmp) / "warm", dict(os.environ))
    lines += ["## Warm rebuild (build cache warm: relink only)", ""]
    lines += [f"- {n}: {s:.1f} s" for n, s in warm.items()]
    lines += [f"- total: {sum(warm.values()):.1f} s", ""]
    print("warm rebuild:", {n: round(s, 1) for n, s in warm.items()})
    t0 = time.monotonic()
    subprocess.run([str(K8S / "build.sh")], check=True, capture_output=True)
    cached = time.monotonic() - t0
    lines += [f"- `tools/k8s/build.sh` with its binary cache hit: {cached:.2f} s", ""]

    ups, api_ready, rss = [], [], {}
    for i in range(args.starts):
        state_dir = Path(tempfile.mkdtemp(prefix="bench-devcluster-"))
        cluster_id = "bench-" + secrets.token_hex(4)
        t0 = time.monotonic()
        proc = start_supervisor(state_dir, detach=False, cluster_id=cluster_id)
        state = wait_ready(state_dir, proc, 240)
        ups.append(time.monotonic() - t0)
        api_ready.append(state.api_ready_s)
        if i == args.starts - 1:
            time.sleep(15)  # let the controllers settle: "at rest"
            for pid in [proc.pid, *processes_of_cluster(cluster_id)]:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                cmdline = Path(f"/proc/{pid}/cmdline").read_text()
                if "mcpod_devcluster.supervisor" in cmdline:
                    name = "supervisor + process kubelet (python)"
                elif "mcpod_devcluster.reaper" in cmdline:
                    name = "reaper (python)"
                rss[f"{name} ({pid})"] = rss_kib(pid) / 1024
        stop_cluster(state_dir)
        proc.wait(timeout=30)
        shutil.rmtree(state_dir, ignore_errors=True)

    lines += [f"## `up` → ready ({args.starts} starts)", ""]
    lines += [
        f"- up → ready (control plane, CRDs established, process kubelet's Node Ready): "
        f"median {statistics.median(ups):.2f} s, min {min(ups):.2f} s, max {max(ups):.2f} s",
        "- of which etcd + kube-apiserver → /readyz ok: "
        f"median {statistics.median(api_ready):.2f} s",
        "",
        "## Resident memory at rest (15 s after ready, no pods)",
        "",
    ]
    lines += [f"- {name}: {mib:.0f} MiB" for name, mib in sorted(rss.items())]
    lines += [f"- total: {sum(rss.values()):.0f} MiB", ""]
    print("up→ready:", [round(u, 2) for u in ups], "median", round(statistics.median(ups), 2))
    print("rss MiB:", {k: round(val) for k, val in rss.items()})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.cold and RESULTS.exists():
        # Keep the last cold-build figures: they are expensive to measure again.
        previous = RESULTS.read_text()
        if "## Cold build" in previous:
            lines += ["", "## Cold build" + previous.split("## Cold build", 1)[1].rstrip()]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
