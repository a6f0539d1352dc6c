"""Operator benchmarks on the dev control plane: wake latency and scale.

Run directly: ``python3 tests/bench/bench_operator.py [--wakes 10] [--scale 1000] [--big 0]``.
Prints the figures and writes ``tests/bench/results/operator.md``.

- wake latency: an Idle connection's last-activity is bumped (what the gateway does) → its pod
  is Ready → the first tools/call is answered through the pod (MCP SDK client, bridge token),
  compared with the bare upstream's spawn → initialize, measured in the same run;
- scale: N McpConnections created with no pod wanted (half suspended, half idle) → every one
  has its phase; elapsed time and the operator's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from kubernetes_asyncio import client, config
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcpod_common import vocabulary as v
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_devcluster.cli import start_supervisor, stop_cluster, wait_ready

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "bench" / "results" / "operator.md"
ROUTING_KEY = "routing-key-for-operator-bench-0123456789abcdef"
UPSTREAM_ENTRY = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "mcpod/upstream/node_modules/@azure-devops/mcp/dist/index.js"
)
REAL_VERSION = "2.10.0"
NAMESPACE = f"bench-{os.getpid()}"
IDLE_SECONDS = 8


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# --- the bare upstream --------------------------------------------------------------------------


def bare_upstream_start() -> float:
    """Seconds from spawning the real upstream to its answer to initialize (stdio)."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"},
        },
    }
    with tempfile.TemporaryDirectory() as home:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": home,
            "PERSONAL_ACCESS_TOKEN": "OmJlbmNo",  # base64(":bench")
        }
        t0 = time.monotonic()
        process = subprocess.Popen(
            ["node", str(UPSTREAM_ENTRY), "contoso", "-a", "pat", "-t", "bench", "-d", "core"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=home,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
        line = process.stdout.readline()
        elapsed = time.monotonic() - t0
        process.terminate()
        process.wait(timeout=10)
    if b'"result"' not in line:
        raise RuntimeError(f"the upstream did not answer initialize: {line[:200]!r}")
    return elapsed


# --- the cluster and the operator ------------------------------------------------------------


@contextlib.contextmanager
def dev_cluster() -> Any:
    with tempfile.TemporaryDirectory(prefix="mcpod-bench-") as tmp:
        state_dir = Path(tmp)
        proc = start_supervisor(state_dir, detach=False)
        try:
            state = wait_ready(state_dir, proc, timeout=240)
            yield state
        finally:
            stop_cluster(state_dir)
            proc.wait(timeout=60)


@contextlib.contextmanager
def operator_process(kubeconfig: str, log: Path, **env: str) -> Any:
    settings = {
        "KUBECONFIG": kubeconfig,
        "MCPOD_NAMESPACE": NAMESPACE,
        "MCPOD_ROUTING_KEY": ROUTING_KEY,
        "MCPOD_LEADER_ELECTION": "false",
        **env,
    }
    base = {k: val for k, val in os.environ.items() if not k.startswith("MCPOD_")}
    # This tree's operator, whatever the editable install points at.
    base["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "operator"), str(REPO / "common"), os.environ.get("PYTHONPATH", "")]
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcpod_operator.cli"],
            env={**base, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def api_client(kubeconfig: str) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config(config_file=kubeconfig)
    try:
        yield api
    finally:
        await api.close()


def connection(name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "owner": "u-bench",
        "slug": "bench",
        "organization": "contoso",
        "credentials": {"secretRef": {"name": "bench-pat"}},
        **spec,
    }
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "metadata": {"name": name, "annotations": {}},
        "spec": body,
    }


async def get_json(call: Any) -> Any:
    response = await call
    try:
        return json.loads(await response.read())
    finally:
        response.release()


# --- wake latency ----------------------------------------------------------------------------


async def wake_latency(api: client.ApiClient, wakes: int, version: str) -> dict[str, list[float]]:
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    name = f"wake-{version.replace('.', '-')}"
    # A short idle timeout: the connection goes Idle on its own before each wake (the creation
    # time counts as activity, so a back-dated stamp alone would not make a new one idle).
    body = connection(name, idleTimeout=f"{IDLE_SECONDS}s", serverVersion=version)
    created = await custom.create_namespaced_custom_object(
        v.GROUP, v.VERSION, NAMESPACE, v.PLURAL, body
    )
    uid = created["metadata"]["uid"]
    token = derive_bridge_token(ROUTING_KEY.encode(), uid)
    selector = f"{v.LABEL_CONNECTION}={name}"

    async def annotate(value: str) -> None:
        await custom.patch_namespaced_custom_object(
            v.GROUP,
            v.VERSION,
            NAMESPACE,
            v.PLURAL,
            name,
            {"metadata": {"annotations": {v.ANNOTATION_LAST_ACTIVITY: value}}},
            _content_type="application/merge-patch+json",
        )

    async def phase() -> str:
        obj = await get_json(
            custom.get_namespaced_custom_object(
                v.GROUP, v.VERSION, NAMESPACE, v.PLURAL, name, _preload_content=False
            )
        )
        return str((obj.get("status") or {}).get("phase", ""))

    async def pods() -> list[dict[str, Any]]:
        data = await get_json(
            core.list_namespaced_pod(NAMESPACE, label_selector=selector, _preload_content=False)
        )
        return list(data["items"])

    results: dict[str, list[float]] = {"created": [], "ready": [], "answer": [], "status": []}
    for _ in range(wakes):
        # Idle: no pod at all (not even a terminating one) before the wake.
        while await phase() != "Idle" or await pods():
            await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await annotate(stamp(datetime.now(UTC)))
        ready_pod: dict[str, Any] | None = None
        t_created: float | None = None
        while ready_pod is None:
            current = await pods()
            if current and t_created is None:
                t_created = time.monotonic() - t0
            for pod in current:
                conditions = (pod.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    ready_pod = pod
            if ready_pod is None:
                await asyncio.sleep(0.02)
        t_ready = time.monotonic() - t0
        url = f"http://{ready_pod['status']['podIP']}:{v.BRIDGE_PORT}/mcp"
        async with (
            httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60) as http,
            Client(streamable_http_client(url, http_client=http), mode="legacy") as mcp_client,
        ):
            await mcp_client.call_tool("core_list_projects", {})
        t_answer = time.monotonic() - t0
        while await phase() != "Ready":
            await asyncio.sleep(0.02)
        t_status = time.monotonic() - t0
        results["created"].append(t_created or t_ready)
        results["ready"].append(t_ready)
        results["answer"].append(t_answer)
        results["status"].append(t_status)
        print(f"  wake ({version}): pod Ready {t_ready:.2f}s, first answer {t_answer:.2f}s")
    await custom.delete_namespaced_custom_object(v.GROUP, v.VERSION, NAMESPACE, v.PLURAL, name)
    return results


# --- scale -----------------------------------------------------------------------------------


async def scale(api: client.ApiClient, count: int, operator_pid: int) -> dict[str, float]:
    custom = client.CustomObjectsApi(api)
    rss_before, _ = rss_mb(operator_pid)
    semaphore = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        suspended = i % 2 == 0
        # The idle half: an idle timeout so short that no pod is ever wanted.
        body = connection(f"s-{count}-{i}", suspended=suspended, idleTimeout="1ms")
        async with semaphore:
            response = await custom.create_namespaced_custom_object(
                v.GROUP, v.VERSION, NAMESPACE, v.PLURAL, body, _preload_content=False
            )
            response.release()

    t0 = time.monotonic()
    await asyncio.gather(*(create(i) for i in range(count)))
    t_created = time.monotonic() - t0
    peak_during = 0.0
    while True:
        data = await get_json(
            custom.list_namespaced_custom_object(
                v.GROUP, v.VERSION, NAMESPACE, v.PLURAL, _preload_content=False
            )
        )
        items = [i for i in data["items"] if i["metadata"]["name"].startswith(f"s-{count}-")]
        done = sum(
            1
            for i in items
            if (i.get("status") or {}).get("phase")
            == ("Suspended" if i["spec"].get("suspended") else "Idle")
        )
        peak_during = max(peak_during, rss_mb(operator_pid)[0])
        if done == count:
            break
        await asyncio.sleep(0.5)
    elapsed = time.monotonic() - t0
    await asyncio.sleep(3)  # let the operator settle
    rss_after, peak = rss_mb(operator_pid)
    print(
        f"  {count} connections: created in {t_created:.1f}s, all phased in {elapsed:.1f}s; "
        f"operator RSS {rss_before:.0f} MB before, {rss_after:.0f} MB after (peak {peak:.0f} MB)"
    )
    return {
        "count": count,
        "created": t_created,
        "elapsed": elapsed,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_peak": peak,
    }


# --- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, kubeconfig: str, log: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": NAMESPACE}})
        await core.create_namespaced_secret(
            NAMESPACE, {"metadata": {"name": "bench-pat"}, "stringData": {"pat": "bench-pat"}}
        )
        with operator_process(kubeconfig, log, MCPOD_LOG_LEVEL="WARNING") as operator:
            if args.wakes:
                print("bare upstream spawn → initialize:")
                bare = [bare_upstream_start() for _ in range(args.wakes)]
                print("  " + ", ".join(f"{b:.2f}s" for b in bare))
                figures["bare"] = bare
                print("wakes with the real upstream:")
                figures["real"] = await wake_latency(api, args.wakes, REAL_VERSION)
                print("wakes with the fake upstream:")
                figures["fake"] = await wake_latency(api, args.wakes, v.FAKE_SERVER_VERSION)
            figures["scale"] = []
            for count in [c for c in (args.scale, args.big) if c]:
                print(f"scale: {count} connections")
                figures["scale"].append(await scale(api, count, operator.pid))
    return figures


def report(figures: dict[str, Any]) -> str:
    lines = [
        "# Operator benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine "
        f"({os.cpu_count()} cores, shared), dev control plane (real kube-apiserver, etcd, "
        "controller-manager; process kubelet), `python3 tests/bench/bench_operator.py`.",
        "",
    ]
    if "bare" in figures:
        bare_median, bare_p95 = quantiles(figures["bare"])
        target = 1.5 * bare_median + 1.0
        lines += [
            "## Wake latency",
            "",
            "An Idle connection's `mcpod.dev/last-activity` is set to now (what the gateway "
            "does); timed to the pod's Ready condition, to the first `tools/call` answered "
            "through the pod (MCP SDK client, bridge token, legacy handshake included) and to "
            "the connection's status phase Ready.",
            "",
            f"Bare upstream (`@azure-devops/mcp` {REAL_VERSION}) spawn → `initialize` answered: "
            f"median {bare_median:.2f} s, p95 {bare_p95:.2f} s "
            f"(n={len(figures['bare'])}). Target for wake → first answer: "
            f"≤ 1.5 x bare + 1 s = {target:.2f} s.",
            "",
            "| upstream | n | → pod created (operator) median / p95 "
            "| → pod Ready median / p95 | → first answer median / p95 "
            "| → status Ready median / p95 | first answer vs target |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, key in (("real 2.10.0", "real"), ("fake", "fake")):
            data = figures[key]
            c, r, a, s = (quantiles(data[k]) for k in ("created", "ready", "answer", "status"))
            verdict = "meets" if a[0] <= target else "misses"
            lines.append(
                f"| {label} | {len(data['ready'])} | {c[0]:.2f} s / {c[1]:.2f} s | "
                f"{r[0]:.2f} s / {r[1]:.2f} s | "
                f"{a[0]:.2f} s / {a[1]:.2f} s | {s[0]:.2f} s / {s[1]:.2f} s | "
                f"{verdict} ({a[0] / target:.2f} x target) |"
            )
        lines.append("")
    if figures.get("scale"):
        lines += [
            "## Scale",
            "",
            "N McpConnections created at once (16 in flight; half suspended, half idle, so no "
            "pods); timed until every one shows its phase (Suspended or Idle) in its status. "
            "RSS of the operator process (targets: ≤ 60 s and ≤ 250 MB at 1,000).",
            "",
            "| connections | created in | all phased in | operator RSS before | after | peak |",
            "|---|---|---|---|---|---|",
        ]
        for s in figures["scale"]:
            lines.append(
                f"| {s['count']:,} | {s['created']:.1f} s | {s['elapsed']:.1f} s | "
                f"{s['rss_before']:.0f} MB | {s['rss_after']:.0f} MB | {s['rss_peak']:.0f} MB |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wakes", type=int, default=10, help="wakes per upstream (0: skip)")
    parser.add_argument("--scale", type=int, default=1000, help="connections (0: skip)")
    parser.add_argument("--big", type=int, default=0, help="a second, larger scale run")
    parser.add_argument(
        "--kubeconfig", help="use this running cluster instead of starting a dev cluster"
    )
    args = parser.parse_args()
    if args.wakes and not UPSTREAM_ENTRY.is_file():
        parser.exit(2, f"the real upstream is not installed at {UPSTREAM_ENTRY}\n")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        kubeconfig = args.kubeconfig or stack.enter_context(dev_cluster()).kubeconfig
        log = Path(tmp) / "operator.log"
        try:
            figures = asyncio.run(run(args, kubeconfig, log))
        finally:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            if tail:
                print("operator log (tail):\n" + tail)
    text = report(figures)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
