"""Where the chart install test runs: the dev control plane here, or a kind cluster.

The test is the same; what differs is how a cluster is reached:

- ``DevTarget`` (default): the session's dev control plane and process kubelet. Pod IPs are
  loopback addresses the test can connect to; there is no `kubectl exec`, so the gateway's
  admin CLI runs as a local process with the gateway pod's settings and a token of the
  gateway's ServiceAccount (what `kubectl exec` would give it). The database is the real
  PostgreSQL fixture on loopback.
- ``KindTarget`` (``MCPOD_E2E_KUBECONFIG`` set, by scripts/kind-e2e.sh): a kind cluster with
  the images built and loaded. The admin CLI runs through `kubectl exec` in a gateway pod, the
  gateway is reached through `kubectl port-forward`, and the database is the one the script
  deployed (``MCPOD_E2E_DATABASE_URL``). ``MCPOD_E2E_VALUES`` names a values file with the
  images' settings.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from mcpod_common import vocabulary as v

RELEASE = "mcpod"
# The portal's origin as the test's "browser" sees it: http://localhost is the one http origin
# the gateway accepts (passkeys need a host name, and the pods have only IPs here).
PUBLIC_URL = "http://localhost:8000"
GATEWAY_PORT = 8000


def is_ready(pod: Mapping[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


class Target:
    """A namespace on some cluster, reached with kubectl and helm through `env`."""

    def __init__(self, *, namespace: str, env: dict[str, str], workdir: Path) -> None:
        self.ns = namespace
        self.env = env
        self.workdir = workdir

    # What differs per cluster.
    database_url: str = ""
    extra_values: dict[str, Any]

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def get(self, kind: str, *args: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", kind, "-n", self.ns, "-o", "json", *args).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def keys(self) -> dict[str, str]:
        import base64

        [secret] = [s for s in self.get("secrets") if s["metadata"]["name"] == f"{RELEASE}-keys"]
        return {k: base64.b64decode(val).decode() for k, val in secret["data"].items()}

    def admin_cli(self, *args: str, stdin: str = "") -> str:
        """`mcpod-gateway admin ARGS` as the installed gateway runs it; returns its output."""
        raise NotImplementedError

    @asynccontextmanager
    async def gateway_url(self, pod: Mapping[str, Any]) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""  # pragma: no cover

    def container_log(self, pod: str, container: str) -> str:
        raise NotImplementedError

    def logs(self) -> str:
        text = []
        for pod in self.get("pods"):
            for c in pod["spec"]["containers"]:
                name = pod["metadata"]["name"]
                text.append(f"--- {name}/{c['name']} ---\n{self.container_log(name, c['name'])}")
        return "\n".join(text)

    def close(self) -> None:
        """Leave nothing behind (connections first: their pods hold the namespace)."""
        self.kubectl("delete", "mcpc", "--all", "-n", self.ns, "--wait=false", check=False)


class DevTarget(Target):
    def __init__(
        self,
        *,
        namespace: str,
        env: dict[str, str],
        workdir: Path,
        kubeconfig: Path,
        database_url: str,
        state_log: Any,
    ) -> None:
        super().__init__(namespace=namespace, env=env, workdir=workdir)
        self.kubeconfig = kubeconfig
        self.database_url = database_url
        self._pod_log = state_log
        # The tag the process kubelet maps to the bridge over the fake upstream.
        self.extra_values = {"operator": {"serverVersion": v.FAKE_SERVER_VERSION}}

    def _service_account_kubeconfig(self, account: str) -> Path:
        token = self.kubectl("create", "token", account, "-n", self.ns).stdout.strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        config = {
            **admin,
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [
                {
                    "name": account,
                    "context": {"cluster": admin["clusters"][0]["name"], "user": account},
                }
            ],
            "current-context": account,
        }
        path = self.workdir / f"{account}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def admin_cli(self, *args: str, stdin: str = "") -> str:
        """As `kubectl exec deploy/<gateway> -- mcpod-gateway admin …` would run it: the
        gateway's settings and its ServiceAccount (the chart's RBAC must allow what it does).
        Returns its standard output."""
        keys = self.keys()
        env = {
            **self.env,
            "KUBECONFIG": str(self._service_account_kubeconfig(f"{RELEASE}-gateway")),
            "MCPOD_BACKEND": "kubernetes",
            "MCPOD_NAMESPACE": self.ns,
            "MCPOD_PUBLIC_URL": PUBLIC_URL,
            "MCPOD_DATABASE_URL": self.database_url,
            "MCPOD_ROUTING_KEY": keys["routing-key"],
            "MCPOD_SECRET_KEY": keys["secret-key"],
            "MCPOD_MASTER_KEY": keys["master-key"],
        }
        env.pop("KUBERNETES_SERVICE_HOST", None)
        proc = subprocess.run(
            ["mcpod-gateway", "admin", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    @asynccontextmanager
    async def gateway_url(self, pod: Mapping[str, Any]) -> AsyncIterator[str]:
        # Pod IPs are loopback addresses here: connect directly.
        yield f"http://{pod['status']['podIP']}:{GATEWAY_PORT}/mcp"

    def container_log(self, pod: str, container: str) -> str:
        text: str = self._pod_log(self.ns, pod, container)
        return text


class KindTarget(Target):
    def __init__(self, *, workdir: Path) -> None:
        env = {**os.environ, "KUBECONFIG": os.environ["MCPOD_E2E_KUBECONFIG"]}
        super().__init__(namespace=f"mcpod-e2e-{secrets.token_hex(3)}", env=env, workdir=workdir)
        self.database_url = os.environ["MCPOD_E2E_DATABASE_URL"]
        values_file = os.environ.get("MCPOD_E2E_VALUES")
        self.extra_values = yaml.safe_load(Path(values_file).read_text()) if values_file else {}
        self.kubectl("create", "namespace", self.ns)

    def admin_cli(self, *args: str, stdin: str = "") -> str:
        proc = self.kubectl(
            "exec", "-i", "-n", self.ns, f"deploy/{RELEASE}-gateway", "--",
            "mcpod-gateway", "admin", *args,
            stdin=stdin,
        )  # fmt: skip
        return proc.stdout

    @asynccontextmanager
    async def gateway_url(self, pod: Mapping[str, Any]) -> AsyncIterator[str]:
        """`kubectl port-forward` to the pod (pod IPs are inside the kind node)."""
        import asyncio

        forward = await asyncio.create_subprocess_exec(
            "kubectl", "port-forward", "-n", self.ns, f"pod/{pod['metadata']['name']}",
            f":{GATEWAY_PORT}",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert forward.stdout is not None
            line = (await asyncio.wait_for(forward.stdout.readline(), 30)).decode()
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            assert match, f"kubectl port-forward said: {line!r}"
            yield f"http://127.0.0.1:{match[1]}/mcp"
        finally:
            forward.terminate()
            await forward.wait()

    def container_log(self, pod: str, container: str) -> str:
        return self.kubectl("logs", "-n", self.ns, pod, "-c", container, check=False).stdout

    def close(self) -> None:
        super().close()
        self.kubectl("delete", "namespace", self.ns, "--wait=false", check=False)
