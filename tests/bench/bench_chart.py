"""Benchmark: the Helm chart on the dev control plane.

Run directly: ``python3 tests/bench/bench_chart.py``. Prints figures and writes
``tests/bench/results/chart.md``. Everything runs on this machine (API server, pods as local
processes, PostgreSQL on 127.0.0.1); every loop is bounded in count.

Measures, in one run:
1. `helm template` and `helm lint --strict` of the chart (client side only);
2. `helm install --wait` until the operator and two gateway replicas are Ready, then the
   first agent-visible step: a connection created with the admin CLI until its pod is Ready;
3. `helm upgrade --wait` that rolls both Deployments, and `helm uninstall --wait` until the
   release's pods are gone — each ROUNDS times, in a fresh namespace per round.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "cluster" / "chart"))

import yaml  # noqa: E402
from fixtures.helm import CHART_DIR, Helm, find_helm  # noqa: E402
from fixtures.postgres import create_database, running_postgres  # noqa: E402
from install_targets import PUBLIC_URL, RELEASE, DevTarget, is_ready  # noqa: E402
from mcpod_common import vocabulary as v  # noqa: E402
from mcpod_devcluster.cli import start_supervisor, stop_cluster, wait_ready  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results" / "chart.md"
TEMPLATE_RUNS = 10
LINT_RUNS = 5
ROUNDS = 3


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def wait(predicate: object, limit: float = 180) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if predicate():  # type: ignore[operator]
            return time.perf_counter() - start
        time.sleep(0.1)
    raise RuntimeError("timed out")


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.2f} s, min {min(samples):.2f} s, "
        f"max {max(samples):.2f} s (n={len(samples)})"
    )


def one_round(helm: Helm, target: DevTarget, values: Path) -> dict[str, float]:
    def run(*args: str) -> None:
        helm.run(*args, "-n", target.ns, env=target.env, timeout=400)

    def pods(component: str) -> list[dict[str, object]]:
        return target.get(
            "pods",
            "-l",
            f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}",
        )

    def settled(component: str, count: int) -> bool:
        found = pods(component)
        return len(found) == count and all(is_ready(p) for p in found)  # type: ignore[arg-type]

    figures: dict[str, float] = {}
    start = time.perf_counter()
    run("install", RELEASE, str(CHART_DIR), "-f", str(values), "--wait", "--timeout", "4m")
    wait(lambda: settled("gateway", 2) and settled("operator", 1))
    figures["install"] = time.perf_counter() - start

    user = target.admin_cli("create-user", "--name", "Bench").strip().splitlines()[-1]
    start = time.perf_counter()
    target.admin_cli(
        "create-connection", "--user", user, "--slug", "work", "--org", "contoso",
        stdin="benchPAT" + secrets.token_hex(8) + "\n",
    )  # fmt: skip
    selector = f"{v.LABEL_OWNER}={user}"
    wait(lambda: any(is_ready(p) for p in target.get("pods", "-l", selector)))
    figures["connection"] = time.perf_counter() - start

    start = time.perf_counter()
    run(
        "upgrade", RELEASE, str(CHART_DIR), "-f", str(values),
        "--set", "operator.idleTimeout=20m", "--set", "gateway.logLevel=warning",
        "--wait", "--timeout", "4m",
    )  # fmt: skip
    wait(lambda: settled("gateway", 2) and settled("operator", 1))
    figures["upgrade"] = time.perf_counter() - start

    start = time.perf_counter()
    run("uninstall", RELEASE, "--wait", "--timeout", "2m")
    wait(lambda: not pods("gateway") and not pods("operator"))
    figures["uninstall"] = time.perf_counter() - start
    return figures


def main() -> int:
    helm = Helm(find_helm())
    required = ROOT / "tests" / "unit" / "chart" / "values" / "required.yaml"
    template = [
        timed(helm.run, "template", "x", str(CHART_DIR), "-f", str(required))
        for _ in range(TEMPLATE_RUNS)
    ]
    lint = [
        timed(helm.run, "lint", "--strict", str(CHART_DIR), "-f", str(required))
        for _ in range(LINT_RUNS)
    ]
    print(f"helm template: {summary(template)}")
    print(f"helm lint --strict: {summary(lint)}")

    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-chart-") as tmp, running_postgres() as pg:
        state_dir = Path(tmp) / "cluster"
        state_dir.mkdir()
        proc = start_supervisor(state_dir, detach=False)
        try:
            state = wait_ready(state_dir, proc, timeout=240)
            env = {**os.environ, "KUBECONFIG": state.kubeconfig}
            for i in range(ROUNDS):
                ns = f"bench-chart-{i}-{secrets.token_hex(2)}"
                subprocess.run(["kubectl", "create", "namespace", ns], env=env, check=True,
                               capture_output=True)  # fmt: skip
                url = create_database(pg)
                target = DevTarget(
                    namespace=ns,
                    env=env,
                    workdir=Path(tmp),
                    kubeconfig=Path(state.kubeconfig),
                    database_url=url,
                    state_log=lambda *_: "",
                )
                target.kubectl(
                    "apply", "-f", "-",
                    stdin=json.dumps({
                        "apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": "mcpod-db", "namespace": ns},
                        "stringData": {"url": url},
                    }),
                )  # fmt: skip
                values = Path(tmp) / "values.yaml"
                values.write_text(
                    yaml.safe_dump(
                        {
                            "gateway": {"publicUrl": PUBLIC_URL, "replicas": 2},
                            "database": {"postgresql": {"existingSecret": "mcpod-db"}},
                            "operator": {"serverVersion": v.FAKE_SERVER_VERSION},
                        }
                    )
                )
                figures = one_round(helm, target, values)
                print(f"round {i + 1}: " + ", ".join(f"{k} {s:.2f} s" for k, s in figures.items()))
                rounds.append(figures)
                target.close()
        finally:
            stop_cluster(state_dir)
            proc.wait(timeout=60)

    by_step = {k: [r[k] for r in rounds] for k in rounds[0]}
    load = os.getloadavg()
    lines = [
        "# Helm chart on the dev control plane",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work; "
        f"load average at the end {load[0]:.1f}), Python {platform.python_version()}, "
        f"`{helm.run('version', '--short').stdout.strip()}`.",
        "Pods are local processes (process kubelet); PostgreSQL on 127.0.0.1.",
        "",
        "| step | figure |",
        "|---|---|",
        f"| `helm template` (client side) | {summary(template)} |",
        f"| `helm lint --strict` | {summary(lint)} |",
        f"| `helm install --wait` → operator + 2 gateways Ready | {summary(by_step['install'])} |",
        f"| admin `create-connection` → its pod Ready | {summary(by_step['connection'])} |",
        f"| `helm upgrade --wait` rolling both Deployments | {summary(by_step['upgrade'])} |",
        f"| `helm uninstall --wait` → release pods gone | {summary(by_step['uninstall'])} |",
        "",
        "`create-connection` includes the admin CLI's own start (Python imports, migrations "
        "check) — it is the time an admin waits, not the operator's reconcile latency "
        "(see operator.md for that).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    for line in lines[5:13]:
        print(line)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
