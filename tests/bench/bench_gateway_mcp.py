"""Benchmark: what /mcp costs.

Run directly: ``python3 tests/bench/bench_gateway_mcp.py [--no-kubernetes] [--no-real]``.
Prints figures and writes ``tests/bench/results/gateway_mcp.md``.  All traffic stays on
127.0.0.1; every loop is bounded in count.

Measures, side by side in one run:
1. warm tools/call (2026-07-28 requests, fake upstream answering at once): latency the gateway
   adds over calling the same bridge directly, median and p99 at concurrency 1 and 50, and
   throughput through one gateway worker vs. direct (rounds alternate gateway/direct);
2. tools/list for a user with 10 idle connections, answered from the catalogue cache
   (a freshly started gateway process: no bridge running), and how many bridges it started;
3. cold call (scaled to zero → first answer) on the local backend (fake and real upstream)
   and on the kubernetes backend (real control plane, operator, process kubelet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from fixtures.mcp_gateway import (  # noqa: E402
    FAKE_UPSTREAM_COMMAND,
    ServedGateway,
    admin_cli,
    modern_request,
    sentinel_pat,
    served_gateway_env,
    start_served_gateway,
)
from mcpod_common.bridge_token import derive_bridge_token  # noqa: E402
from mcpod_gateway.settings import Settings  # noqa: E402

RESULTS = REPO / "tests" / "bench" / "results" / "gateway_mcp.md"
REAL_UPSTREAM_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcpod/upstream"
)
TOOL = "core_list_projects"
DEFAULT_TOKEN_CACHE_SECONDS = Settings.model_fields["token_cache_seconds"].default


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    for task in task_dir.iterdir() if task_dir.exists() else []:
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bridge_url_of(gateway: ServedGateway) -> str:
    for child in children(gateway.process.pid):
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        for item in env:
            if item.startswith(b"MCPOD_LISTEN="):
                return f"http://{item.split(b'=', 1)[1].decode()}/mcp"
    raise RuntimeError("no running bridge found")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed_calls(
    url: str, headers: dict[str, str], name: str, count: int, concurrency: int
) -> tuple[list[float], float]:
    """``count`` tools/call requests from ``concurrency`` workers on kept-alive connections.

    The load generator is aiohttp's client: with httpx (h11 parses in pure Python) the client's
    own core saturated first, so both paths measured the client rather than the servers.
    """
    latencies: list[float] = []
    body, base = modern_request("tools/call", {"name": name, "arguments": {}})
    all_headers = {**base, **headers}
    payload = json.dumps(body).encode()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as http:
        async with http.post(url, data=payload, headers=all_headers) as reply:
            await reply.read()  # open (and warm) a connection
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                async with http.post(url, data=payload, headers=all_headers) as reply:
                    raw = await reply.read()
                latencies.append((time.perf_counter() - t0) * 1000)
                answer = json.loads(raw)
                if "result" not in answer or answer["result"].get("isError"):
                    raise RuntimeError(f"call failed: {raw[:300]!r}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return latencies, count / elapsed


async def bench_warm(
    gateway: ServedGateway, token: str, database: Path, routing_key: str
) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {token}"}
    await timed_calls(gateway.url, auth, f"work__{TOOL}", 20, 1)  # wake and warm
    bridge = bridge_url_of(gateway)
    with sqlite3.connect(database) as db:
        uid = db.execute("SELECT uid FROM local_connections WHERE slug = 'work'").fetchone()[0]
    direct_auth = {"authorization": f"Bearer {derive_bridge_token(routing_key.encode(), uid)}"}
    figures: dict[str, Any] = {}
    for concurrency, count, rounds in ((1, 1000, 5), (50, 5000, 5)):
        via: list[float] = []
        direct: list[float] = []
        via_rps: list[float] = []
        direct_rps: list[float] = []
        gateway_cpu = 0.0
        bridge_pid = children(gateway.process.pid)[0]
        bridge_cpu = 0.0
        client_cpu = {"direct": 0.0, "gateway": 0.0}
        for _ in range(rounds):
            c0 = own_cpu_seconds()
            lat, rps = await timed_calls(bridge, direct_auth, TOOL, count, concurrency)
            client_cpu["direct"] += own_cpu_seconds() - c0
            direct += lat
            direct_rps.append(rps)
            g0, b0 = cpu_seconds(gateway.process.pid), cpu_seconds(bridge_pid)
            c0 = own_cpu_seconds()
            lat, rps = await timed_calls(gateway.url, auth, f"work__{TOOL}", count, concurrency)
            client_cpu["gateway"] += own_cpu_seconds() - c0
            gateway_cpu += cpu_seconds(gateway.process.pid) - g0
            bridge_cpu += cpu_seconds(bridge_pid) - b0
            via += lat
            via_rps.append(rps)
        figures[concurrency] = {
            "direct_p50": statistics.median(direct),
            "direct_p99": pct(direct, 99),
            "gateway_p50": statistics.median(via),
            "gateway_p99": pct(via, 99),
            "direct_rps": statistics.median(direct_rps),
            "gateway_rps": statistics.median(via_rps),
            "requests": len(via),
            "gateway_cpu_ms": 1000 * gateway_cpu / len(via),
            "bridge_cpu_ms": 1000 * bridge_cpu / len(via),
            "client_cpu_direct_ms": 1000 * client_cpu["direct"] / len(direct),
            "client_cpu_gateway_ms": 1000 * client_cpu["gateway"] / len(via),
        }
    return figures


async def bench_list(env: dict[str, str], data: Path, user: str, token: str) -> dict[str, Any]:
    for i in range(10):
        admin_cli(
            env,
            "create-connection",
            "--user",
            user,
            "--slug",
            f"c{i}",
            "--org",
            f"org{i}",
            "--domains",
            "core work",
            stdin=sentinel_pat() + "\n",
        )
    warm = start_served_gateway(env, data / "gateway-warm.log")
    try:
        for i in range(10):
            await timed_calls(warm.url, {"authorization": f"Bearer {token}"}, f"c{i}__{TOOL}", 1, 1)
        body, headers = modern_request("tools/list")
        headers["authorization"] = f"Bearer {token}"
        for _ in range(100):  # wait until every catalogue is stored
            names = [
                t["name"]
                for t in httpx.post(warm.url, json=body, headers=headers).json()["result"]["tools"]
            ]
            if not any(n.endswith("connection_unavailable") for n in names):
                break
            time.sleep(0.2)
    finally:
        warm.stop()
    fresh = start_served_gateway(env, data / "gateway-list.log")
    try:
        latencies = []
        tools = 0
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(220):
                t0 = time.perf_counter()
                reply = await http.post(fresh.url, json=body, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= 20:
                    latencies.append(elapsed)
                tools = len(reply.json()["result"]["tools"])
        started = len(children(fresh.process.pid))
    finally:
        fresh.stop()
    return {
        "p50": statistics.median(latencies),
        "p99": pct(latencies, 99),
        "tools": tools,
        "bridges_started": started,
        "requests": len(latencies),
    }


async def bench_cold_local(
    env: dict[str, str], data: Path, user: str, token: str, tag: str, count: int
) -> list[float]:
    slugs = [f"cold{tag}{i}" for i in range(count)]
    for slug in slugs:
        admin_cli(
            env,
            "create-connection",
            "--user",
            user,
            "--slug",
            slug,
            "--org",
            "contoso",
            "--domains",
            "core",
            stdin=sentinel_pat() + "\n",
        )
    gateway = start_served_gateway(env, data / f"gateway-cold-{tag}.log")
    try:
        times = []
        for slug in slugs:
            lat, _ = await timed_calls_any(gateway.url, token, f"{slug}__{TOOL}")
            times.append(lat)
    finally:
        gateway.stop()
    return times


async def timed_calls_any(url: str, token: str, name: str) -> tuple[float, dict[str, Any]]:
    """One call whose answer may be the upstream's own tool error (the real one has no network)."""
    body, headers = modern_request("tools/call", {"name": name, "arguments": {}})
    headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=180) as http:
        t0 = time.perf_counter()
        reply = await http.post(url, json=body, headers=headers)
        elapsed = (time.perf_counter() - t0) * 1000
    answer = reply.json()
    text = json.dumps(answer)
    if "did not become ready" in text or "error" in answer:
        raise RuntimeError(f"cold call failed: {text[:300]}")
    return elapsed, answer


async def bench_cold_kubernetes(data: Path, count: int) -> list[float]:
    from mcpod_devcluster.cli import start_supervisor, stop_cluster, wait_ready

    state = data / "cluster"
    state.mkdir()
    proc = start_supervisor(state, detach=False)
    operator = None
    gateway = None
    try:
        cluster = wait_ready(state, proc, timeout=240)
        kube_env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}

        def kubectl(*args: str, stdin: str | None = None) -> str:
            return subprocess.run(
                ["kubectl", *args],
                env=kube_env,
                input=stdin,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout

        namespace = "bench"
        kubectl("create", "namespace", namespace)
        routing_key = secrets.token_hex(32)
        with (data / "operator.log").open("ab") as log:
            operator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mcpod_operator.cli",
                    "-n",
                    namespace,
                    "--no-leader-election",
                ],
                env={
                    **kube_env,
                    "MCPOD_ROUTING_KEY": routing_key,
                    "MCPOD_SERVER_VERSION": "0.0.0-fake",
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        env = served_gateway_env(
            data / "kube-gateway",
            **{
                "KUBECONFIG": str(cluster.kubeconfig),
                "MCPOD_BACKEND": "kubernetes",
                "MCPOD_NAMESPACE": namespace,
                "MCPOD_ROUTING_KEY": routing_key,
            },
        )
        (data / "kube-gateway").mkdir()
        user = admin_cli(env, "create-user", "--name", "bench")
        token = admin_cli(env, "create-token", "--user", user, "--name", "bench")
        slugs = [f"k{i}" for i in range(count)]
        for slug in slugs:
            admin_cli(
                env,
                "create-connection",
                "--user",
                user,
                "--slug",
                slug,
                "--org",
                "contoso",
                "--domains",
                "core",
                stdin=sentinel_pat() + "\n",
            )
            # Idle after 20 s: once the creation is older than that, the pod goes.
            kubectl(
                "-n",
                namespace,
                "patch",
                "mcpconnection",
                f"{user}-{slug}",
                "--type=merge",
                "-p",
                json.dumps({"spec": {"idleTimeout": "20s"}}),
            )
        gateway = start_served_gateway(env, data / "gateway-kube.log")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(1)
            pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json"))["items"]
            if not pods and time.monotonic() > deadline - 95:
                break
        times = []
        for slug in slugs:
            elapsed, _ = await timed_calls_any(gateway.url, token, f"{slug}__{TOOL}")
            times.append(elapsed)
        return times
    finally:
        if gateway is not None:
            gateway.stop()
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=30)
        stop_cluster(state)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-kubernetes", action="store_true", help="skip the cold call on Kubernetes"
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real @azure-devops/mcp")
    parser.add_argument("--only-warm", action="store_true", help="measure warm calls only")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-gateway-mcp-"))
    # The product's default token cache: the test fixture turns it off (revocation tests must
    # see a change at once), which would put a database lookup on every measured call.
    env = served_gateway_env(
        data,
        MCPOD_UPSTREAM_COMMAND=FAKE_UPSTREAM_COMMAND,
        MCPOD_LOG_LEVEL="warning",
        MCPOD_TOKEN_CACHE_SECONDS=str(DEFAULT_TOKEN_CACHE_SECONDS),
    )
    user = admin_cli(env, "create-user", "--name", "bench")
    token = admin_cli(env, "create-token", "--user", user, "--name", "bench")
    admin_cli(
        env,
        "create-connection",
        "--user",
        user,
        "--slug",
        "work",
        "--org",
        "contoso",
        "--domains",
        "core",
        stdin=sentinel_pat() + "\n",
    )
    gateway = start_served_gateway(env, data / "gateway-warm-call.log")
    try:
        warm = asyncio.run(
            bench_warm(gateway, token, data / "gateway.db", env["MCPOD_ROUTING_KEY"])
        )
    finally:
        gateway.stop()
    if args.only_warm:
        report(warm, None, [], [], [])
        return
    listing = asyncio.run(bench_list(env, data, user, token))
    cold_fake = asyncio.run(bench_cold_local(env, data, user, token, "f", 5))
    cold_real: list[float] = []
    if (
        not args.no_real
        and (REAL_UPSTREAM_DIR / "node_modules/@azure-devops/mcp/dist/index.js").is_file()
    ):
        real_env = {k: v for k, v in env.items() if k != "MCPOD_UPSTREAM_COMMAND"}
        real_env["MCPOD_UPSTREAM_DIR"] = str(REAL_UPSTREAM_DIR)
        cold_real = asyncio.run(bench_cold_local(real_env, data, user, token, "r", 3))
    cold_kube: list[float] = []
    if not args.no_kubernetes:
        cold_kube = asyncio.run(bench_cold_kubernetes(data, 3))
    report(warm, listing, cold_fake, cold_real, cold_kube)


def report(
    warm: dict[str, Any],
    listing: dict[str, Any],
    cold_fake: list[float],
    cold_real: list[float],
    cold_kube: list[float],
) -> None:
    lines = [
        "# /mcp benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end, Python "
        f"{platform.python_version()}. Gateway: one uvicorn worker, local backend, SQLite, the "
        "default token cache; "
        "fake upstream answering at once. 2026-07-28 requests; rounds alternate gateway and "
        "direct.",
        "",
        "## Warm tools/call: gateway vs. the same bridge directly",
        "",
        "| concurrency | direct p50 | gateway p50 | added p50 | direct p99 | gateway p99 "
        "| direct req/s | gateway req/s | gateway/direct |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for concurrency, f in warm.items():
        lines.append(
            f"| {concurrency} | {f['direct_p50']:.2f} ms | {f['gateway_p50']:.2f} ms | "
            f"{f['gateway_p50'] - f['direct_p50']:.2f} ms | {f['direct_p99']:.2f} ms | "
            f"{f['gateway_p99']:.2f} ms | {f['direct_rps']:.0f} | {f['gateway_rps']:.0f} | "
            f"{100 * f['gateway_rps'] / f['direct_rps']:.0f} % |"
        )
    lines += [
        "",
        f"({warm[1]['requests']} and {warm[50]['requests']} requests per side.) "
        "Targets: ≤ 2 ms added at the median, ≥ 50 % of direct throughput.",
        "",
        "CPU per call (from /proc and getrusage): "
        + "; ".join(
            f"concurrency {c}: gateway {f['gateway_cpu_ms']:.2f} ms, "
            f"bridge {f['bridge_cpu_ms']:.2f} ms, load generator "
            f"{f['client_cpu_gateway_ms']:.2f} ms via the gateway / "
            f"{f['client_cpu_direct_ms']:.2f} ms direct"
            for c, f in warm.items()
        )
        + ". The load generator (aiohttp client, one process), gateway, bridge and upstream "
        "share the same two cores, so the throughput ratio reflects that sharing as much as "
        "the gateway's own cost.",
        "",
    ]
    if listing is None:
        print("\n".join(lines))
        return
    lines += [
        "## tools/list, 10 idle connections, from the catalogue cache",
        "",
        f"- p50 {listing['p50']:.2f} ms, p99 {listing['p99']:.2f} ms over "
        f"{listing['requests']} requests ({listing['tools']} tools listed); bridges started "
        f"by the listing gateway: {listing['bridges_started']} (target ≤ 20 ms p50, zero started).",
        "",
        "## Cold call: scaled to zero → first answer",
        "",
        "| backend | upstream | calls | median | min | max |",
        "|---|---|---|---|---|---|",
    ]
    for backend, upstream, values in (
        ("local", "fake", cold_fake),
        ("local", "@azure-devops/mcp 2.10.0", cold_real),
        ("kubernetes (process kubelet)", "fake", cold_kube),
    ):
        if values:
            lines.append(
                f"| {backend} | {upstream} | {len(values)} | {statistics.median(values):.0f} ms | "
                f"{min(values):.0f} ms | {max(values):.0f} ms |"
            )
        else:
            lines.append(f"| {backend} | {upstream} | not measured | | | |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
