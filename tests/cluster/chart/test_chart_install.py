"""`helm install` onto the real control plane, used by an agent, upgraded, uninstalled.

The process kubelet maps our images to the installed console scripts (mcpod/operator →
mcpod-operator, mcpod/gateway → mcpod-gateway serve, mcpod/connection:0.0.0-fake → the bridge
over the fake upstream), so what runs is exactly what the chart configures: its env, its
Secrets, its ServiceAccounts (each pod gets a token for its own account, so RBAC is real).
The gateway's database is the real PostgreSQL fixture, handed over as the chart expects: an
existing Secret holding the URL.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.cluster import ControlPlaneHandle, Kubectl
from fixtures.helm import CHART_DIR, Helm
from fixtures.mcp_gateway import agent, sentinel_pat
from mcpod_common import vocabulary as v
from support.polling import eventually

RELEASE = "mcpod"
PUBLIC_URL = "https://mcpod.example.com"


class Install:
    """Helm and kubectl against one namespace of the dev control plane."""

    def __init__(
        self,
        control_plane: ControlPlaneHandle,
        helm: Helm,
        kubectl: Kubectl,
        namespace: str,
        workdir: Path,
    ) -> None:
        self.cp = control_plane
        self.helm_cli = helm
        self.kubectl = kubectl
        self.ns = namespace
        self.workdir = workdir

    def helm(self, *args: str) -> str:
        return self.helm_cli.run(*args, "-n", self.ns, env=self.cp.env, timeout=400).stdout

    def get(self, kind: str, *args: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", kind, "-n", self.ns, "-o", "json", *args).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def ready_pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        return [p for p in self.get("pods", "-l", selector) if is_ready(p)]

    async def wait_ready(self, component: str, count: int) -> None:
        """Exactly `count` Ready pods of the component (old ones gone after a rollout)."""

        async def settled() -> bool:
            selector = (
                f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
            )
            pods = self.get("pods", "-l", selector)
            return len(pods) == count and all(is_ready(p) for p in pods)

        await eventually(settled, within=180, interval=0.5, what=f"{count} Ready {component} pods")

    def keys(self) -> dict[str, str]:
        [secret] = [s for s in self.get("secrets") if s["metadata"]["name"] == f"{RELEASE}-keys"]
        return {k: base64.b64decode(val).decode() for k, val in secret["data"].items()}

    def logs(self) -> str:
        text = []
        for pod in self.get("pods"):
            for c in pod["spec"]["containers"]:
                name = pod["metadata"]["name"]
                text.append(f"--- {name}/{c['name']} ---\n")
                text.append(self.cp.pod_log(self.ns, name, c["name"]))
        return "".join(text)


def is_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def write_values(path: Path, values: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(values))
    return str(path)


def service_account_kubeconfig(install: Install, account: str, path: Path) -> Path:
    """A kubeconfig holding a token of the ServiceAccount (what a pod of it would use)."""
    token = install.kubectl("create", "token", account, "-n", install.ns).stdout.strip()
    admin = yaml.safe_load(install.cp.kubeconfig.read_text())
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
    path.write_text(yaml.safe_dump(config))
    return path


def admin_cli(install: Install, database_url: str, *args: str, stdin: str = "") -> str:
    """The gateway's admin CLI as `kubectl exec deploy/<gateway> -- mcpod-gateway admin ...`
    runs it: the gateway's settings and its ServiceAccount (so the chart's RBAC must allow
    what it does). Returns the last line of its output."""
    import subprocess

    keys = install.keys()
    kubeconfig = service_account_kubeconfig(
        install, f"{RELEASE}-gateway", install.workdir / "gateway.kubeconfig"
    )
    env = {
        **install.cp.env,
        "KUBECONFIG": str(kubeconfig),
        "MCPOD_BACKEND": "kubernetes",
        "MCPOD_NAMESPACE": install.ns,
        "MCPOD_PUBLIC_URL": PUBLIC_URL,
        "MCPOD_DATABASE_URL": database_url,
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
    return proc.stdout.strip().splitlines()[-1]


async def call_through_gateway(install: Install, token: str) -> dict[str, Any]:
    """tools/list then tools/call as an agent (MCP Python SDK) through a gateway pod."""
    [gateway, *_] = install.ready_pods("gateway")
    url = f"http://{gateway['status']['podIP']}:8000/mcp"
    async with agent(url, token) as client:
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        assert "work__core_list_projects" in names, names
        result = await client.call_tool("work__core_list_projects", {})
    assert not result.is_error, result
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


@pytest.fixture
def install(
    control_plane: ControlPlaneHandle,
    helm: Helm,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> Any:
    handle = Install(control_plane, helm, kubectl, namespace, tmp_path)
    yield handle
    # Shown by pytest when the test failed; the namespace is deleted by its fixture.
    print(handle.logs()[-20000:])
    kubectl("delete", "mcpc", "--all", "-n", namespace, "--wait=false", check=False)


async def test_install_use_upgrade_uninstall(
    install: Install, postgres_url: str, tmp_path: Path
) -> None:
    ns = install.ns
    # The database: an existing Secret holding the URL, as values.yaml asks.
    db_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mcpod-db", "namespace": ns},
        "stringData": {"url": postgres_url},
    }
    install.kubectl("apply", "-f", "-", stdin=json.dumps(db_secret))
    values = write_values(
        tmp_path / "values.yaml",
        {
            "gateway": {"publicUrl": PUBLIC_URL, "replicas": 2},
            "database": {"postgresql": {"existingSecret": "mcpod-db"}},
            # The tag the process kubelet maps to the bridge over the fake upstream.
            "operator": {"serverVersion": v.FAKE_SERVER_VERSION},
        },
    )

    # --- install: operator and both gateway replicas Ready
    out = install.helm(
        "install", RELEASE, str(CHART_DIR), "-f", values, "--wait", "--timeout", "4m"
    )
    assert "STATUS: deployed" in out
    assert "Open the portal: https://mcpod.example.com" in out
    await install.wait_ready("gateway", 2)
    await install.wait_ready("operator", 1)
    keys_at_install = install.keys()

    # --- a person, a token and a connection (admin CLI, kubernetes backend)
    user = admin_cli(install, postgres_url, "create-user", "--name", "Ada")
    token = admin_cli(install, postgres_url, "create-token", "--user", user, "--name", "agent")
    pat = sentinel_pat("chart")
    admin_cli(
        install,
        postgres_url,
        "create-connection",
        "--user", user, "--slug", "work", "--org", "contoso", "--domains", "core",
        stdin=pat + "\n",
    )  # fmt: skip
    [connection] = install.get("mcpconnections")
    assert connection["spec"]["owner"] == user

    # --- the operator (with the chart's RBAC) gives it a pod, and an agent's call round-trips
    selector = f"{v.LABEL_CONNECTION}={connection['metadata']['name']}"

    async def connection_pod_ready() -> bool:
        return any(is_ready(p) for p in install.get("pods", "-l", selector))

    await eventually(connection_pod_ready, within=120, what="a Ready connection pod")
    data = await call_through_gateway(install, token)
    assert data["organization"] == "contoso"

    # The PAT went nowhere but the pod's env: not in logs, the CR, events or the release.
    visible = [
        install.logs(),
        json.dumps(install.get("mcpconnections")),
        json.dumps(install.get("events")),
        install.helm("get", "all", RELEASE),
    ]
    assert not [text for text in visible if pat in text]

    # --- upgrade: new settings roll the pods, the generated keys stay
    install.helm(
        "upgrade", RELEASE, str(CHART_DIR), "-f", values,
        "--set", "operator.idleTimeout=20m", "--set", "gateway.replicas=1",
        "--wait", "--timeout", "4m",
    )  # fmt: skip
    assert install.keys() == keys_at_install
    [operator] = install.get("deployments", "-l", "app.kubernetes.io/component=operator")
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MCPOD_IDLE_TIMEOUT"] == "20m"
    await install.wait_ready("gateway", 1)
    # Same routing key: the existing connection pod's bridge token still matches.
    data = await call_through_gateway(install, token)
    assert data["organization"] == "contoso"

    # --- uninstall: only what the documented policy keeps is left
    install.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")

    async def leftovers() -> dict[str, list[str]] | None:
        found = {
            kind: sorted(o["metadata"]["name"] for o in install.get(kind))
            for kind in (
                "deployments", "replicasets", "services", "serviceaccounts", "roles",
                "rolebindings", "networkpolicies", "poddisruptionbudgets", "secrets",
                "mcpconnections", "pods",
            )
        }  # fmt: skip
        gone = not any(
            p["metadata"]["labels"].get("app.kubernetes.io/instance") == RELEASE
            for p in install.get("pods")
        )
        return found if gone else None

    found = await eventually(leftovers, within=120, what="the release's pods to go")
    name = connection["metadata"]["name"]
    kept_secrets = set(found.pop("secrets"))
    kept_pods = found.pop("pods")
    assert found == {
        "deployments": [],
        "replicasets": [],
        "services": [],
        "serviceaccounts": ["default"],
        "roles": [],
        "rolebindings": [],
        "networkpolicies": [],
        "poddisruptionbudgets": [],
        "mcpconnections": [name],
    }
    # Kept on purpose: the keys (so a reinstall keeps every token valid) and each
    # connection with what it owns (people's data; see the chart README).
    assert f"{RELEASE}-keys" in kept_secrets
    assert "mcpod-db" in kept_secrets  # the admin's own Secret, never the chart's
    assert not [s for s in kept_secrets if s.startswith("sh.helm.release")]
    owned = {
        s["metadata"]["name"]
        for s in install.get("secrets")
        if any(r["name"] == name for r in s["metadata"].get("ownerReferences", []))
    }
    assert kept_secrets == {f"{RELEASE}-keys", "mcpod-db"} | owned
    assert all(p.startswith(name) for p in kept_pods)

    # --- reinstall adopts the kept keys; deleting the connections leaves nothing behind
    install.helm("install", RELEASE, str(CHART_DIR), "-f", values, "--wait", "--timeout", "4m")
    assert install.keys() == keys_at_install
    data = await call_through_gateway(install, token)
    assert data["organization"] == "contoso"
    install.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")
    install.kubectl("delete", "mcpc", "--all", "-n", ns)

    async def only_admin_objects() -> bool:
        secrets = {s["metadata"]["name"] for s in install.get("secrets")}
        return not install.get("pods") and secrets == {f"{RELEASE}-keys", "mcpod-db"}

    await eventually(only_admin_objects, within=120, what="connections' pods and Secrets to go")
