"""`helm install` onto a real cluster, used by an agent, upgraded, uninstalled.

Here the cluster is the dev control plane: the process kubelet maps our images to the
installed console scripts (mcpod/operator → mcpod-operator, mcpod/gateway → mcpod-gateway
serve, mcpod/connection:0.0.0-fake → the bridge over the fake upstream), so what runs is
exactly what the chart configures: its env, its Secrets, its ServiceAccounts (each pod gets a
token for its own account, so RBAC is real). The gateway's database is the real PostgreSQL
fixture, handed over as the chart expects: an existing Secret holding the URL.
On a machine with Docker, scripts/kind-e2e.sh runs this same test on kind (install_targets.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fixtures.gateway import GatewayHarness
from fixtures.helm import CHART_DIR, Helm, merge_values
from fixtures.mcp_gateway import agent, sentinel_pat
from fixtures.passkeys import SoftAuthenticator
from install_targets import PUBLIC_URL, RELEASE, DevTarget, KindTarget, Target, is_ready
from mcpod_common import vocabulary as v
from support.polling import eventually


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    chosen: Target
    if os.environ.get("MCPOD_E2E_KUBECONFIG"):
        chosen = KindTarget(workdir=tmp_path)
    else:
        control_plane = request.getfixturevalue("control_plane")
        chosen = DevTarget(
            namespace=request.getfixturevalue("namespace"),
            env=control_plane.env,
            workdir=tmp_path,
            kubeconfig=control_plane.kubeconfig,
            database_url=request.getfixturevalue("postgres_url"),
            state_log=control_plane.pod_log,
        )
    yield chosen
    # Shown by pytest when the test failed.
    print(chosen.logs()[-20000:])
    chosen.close()


class ToPod(httpx.AsyncBaseTransport):
    """The browser talks to the public origin; the bytes go to one gateway pod."""

    def __init__(self, pod_url: httpx.URL) -> None:
        self.host, self.port = pod_url.host, pod_url.port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # A copy: the client keeps its own request (and its cookies) on the public origin.
        forwarded = httpx.Request(
            request.method,
            request.url.copy_with(host=self.host, port=self.port),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self._inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Install:
    """The chart's release in the target's namespace."""

    def __init__(self, target: Target, helm: Helm) -> None:
        self.t = target
        self.helm_cli = helm

    def helm(self, *args: str) -> str:
        return self.helm_cli.run(*args, "-n", self.t.ns, env=self.t.env, timeout=400).stdout

    def pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}"
        return self.t.get("pods", "-l", selector)

    async def wait_ready(self, component: str, count: int) -> None:
        """Exactly `count` Ready pods of the component (old ones gone after a rollout)."""

        async def settled() -> bool:
            pods = self.pods(component)
            return len(pods) == count and all(is_ready(p) for p in pods)

        await eventually(settled, within=180, interval=0.5, what=f"{count} Ready {component} pods")

    async def person_adds_a_connection(self, pat: str) -> str:
        """Sign up, create an API token and a connection in the portal; returns the token."""
        [gateway, *_] = [p for p in self.pods("gateway") if is_ready(p)]
        async with (
            self.t.gateway_url(gateway) as url,
            httpx.AsyncClient(
                base_url=PUBLIC_URL, transport=ToPod(httpx.URL(url)), timeout=60
            ) as browser,
        ):
            portal = GatewayHarness(app=None, client=browser, settings=None)  # type: ignore[arg-type]
            options = await portal.post_json("/webauthn/signup/options", {"display_name": "Ada"})
            assert options.status_code == 200, options.text
            credential = SoftAuthenticator(origin=PUBLIC_URL).create(options.json()["options"])
            done = await portal.post_json("/webauthn/signup/verify", {"credential": credential})
            assert done.status_code == 200, done.text
            token = await portal.create_token("agent")
            created = await portal.post_form(
                "/connections",
                {"slug": "work", "organization": "contoso", "pat": pat, "domains": "core"},
                csrf_from="/connections",
            )
            assert created.status_code == 303, created.text[:2000]
        return token

    async def call_through_gateway(self, token: str) -> dict[str, Any]:
        """tools/list then tools/call as an agent (MCP Python SDK) through a gateway pod."""
        [gateway, *_] = [p for p in self.pods("gateway") if is_ready(p)]
        async with self.t.gateway_url(gateway) as url, agent(url, token) as client:
            listed = await client.list_tools()
            names = {t.name for t in listed.tools}
            assert "work__core_list_projects" in names, names
            result = await client.call_tool("work__core_list_projects", {})
        assert not result.is_error, result
        data: dict[str, Any] = json.loads(result.content[0].text)
        return data


async def test_install_use_upgrade_uninstall(target: Target, helm: Helm, tmp_path: Path) -> None:
    install = Install(target, helm)
    ns = target.ns
    # Every pod of the install (and the operator's connection pods) must pass "restricted".
    target.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    # The database: an existing Secret holding the URL, as values.yaml asks.
    db_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "mcpod-db", "namespace": ns},
        "stringData": {"url": target.database_url},
    }
    target.kubectl("apply", "-f", "-", stdin=json.dumps(db_secret))
    values_file = tmp_path / "values.yaml"
    base = {
        "gateway": {"publicUrl": PUBLIC_URL, "replicas": 2, "registration": "open"},
        "database": {"postgresql": {"existingSecret": "mcpod-db"}},
    }
    values_file.write_text(yaml.safe_dump(merge_values(base, target.extra_values)))
    values = str(values_file)

    # --- install: operator and both gateway replicas Ready
    out = install.helm(
        "install", RELEASE, str(CHART_DIR), "-f", values, "--wait", "--timeout", "4m"
    )
    assert "STATUS: deployed" in out
    assert f"Open the portal: {PUBLIC_URL}" in out
    await install.wait_ready("gateway", 2)
    await install.wait_ready("operator", 1)
    keys_at_install = target.keys()

    # --- a person signs up with a passkey, makes an API token and adds a connection in the
    # portal of a gateway pod (which writes the McpConnection and PAT Secret with its own
    # ServiceAccount: the chart's RBAC)
    pat = sentinel_pat("chart")
    token = await install.person_adds_a_connection(pat)
    [connection] = target.get("mcpconnections")
    user = connection["spec"]["owner"]
    # The admin CLI (kubectl exec in a gateway pod on kind) sees that person.
    assert user in target.admin_cli("list-users")

    # --- the operator (with the chart's RBAC) gives it a pod, and an agent's call round-trips
    selector = f"{v.LABEL_CONNECTION}={connection['metadata']['name']}"

    async def connection_pod_ready() -> bool:
        return any(is_ready(p) for p in target.get("pods", "-l", selector))

    await eventually(connection_pod_ready, within=120, what="a Ready connection pod")
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"

    # The PAT went nowhere but the pod's env: not in logs, the CR, events or the release.
    visible = [
        target.logs(),
        json.dumps(target.get("mcpconnections")),
        json.dumps(target.get("events")),
        install.helm("get", "all", RELEASE),
    ]
    assert not [text for text in visible if pat in text]

    # --- upgrade: new settings roll the pods, the generated keys stay
    install.helm(
        "upgrade", RELEASE, str(CHART_DIR), "-f", values,
        "--set", "operator.idleTimeout=20m", "--set", "gateway.replicas=1",
        "--set", "operator.replicas=2",
        "--wait", "--timeout", "4m",
    )  # fmt: skip
    assert target.keys() == keys_at_install
    [operator] = target.get("deployments", "-l", "app.kubernetes.io/component=operator")
    env = {
        e["name"]: e.get("value")
        for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MCPOD_IDLE_TIMEOUT"] == "20m"
    await install.wait_ready("gateway", 1)
    # Same routing key: the existing connection pod's bridge token still matches.
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"

    # Two operators share the Lease the chart's RBAC allows: one holds it and reconciles (a
    # lost connection pod comes back), the other stands by.
    await install.wait_ready("operator", 2)
    names = [p["metadata"]["name"] for p in install.pods("operator")]

    async def lease_holder() -> str | None:
        [lease] = [
            item
            for item in target.get("leases")
            if item["metadata"]["name"] == f"{RELEASE}-operator"
        ]
        holder = str(lease["spec"].get("holderIdentity") or "")
        return holder if any(holder.startswith(f"{n}-") for n in names) else None

    await eventually(lease_holder, within=120, what="a new operator pod holding the Lease")
    [old_pod] = target.get("pods", "-l", selector)
    target.kubectl("delete", "pod", "-n", ns, old_pod["metadata"]["name"], "--wait=false")

    async def replaced() -> bool:
        pods = target.get("pods", "-l", selector)
        return any(is_ready(p) and p["metadata"]["uid"] != old_pod["metadata"]["uid"] for p in pods)

    await eventually(replaced, within=120, what="the leader to recreate the connection pod")
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"

    # --- uninstall: only what the documented policy keeps is left
    install.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")

    async def leftovers() -> dict[str, list[str]] | None:
        found = {
            kind: sorted(o["metadata"]["name"] for o in target.get(kind))
            for kind in (
                "deployments", "replicasets", "services", "serviceaccounts", "roles",
                "rolebindings", "networkpolicies", "poddisruptionbudgets", "secrets",
                "mcpconnections", "pods",
            )
        }  # fmt: skip
        gone = not any(
            p["metadata"]["labels"].get("app.kubernetes.io/instance") == RELEASE
            for p in target.get("pods")
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
        for s in target.get("secrets")
        if any(r["name"] == name for r in s["metadata"].get("ownerReferences", []))
    }
    assert kept_secrets == {f"{RELEASE}-keys", "mcpod-db"} | owned
    assert all(p.startswith(name) for p in kept_pods)

    # --- reinstall adopts the kept keys; deleting the connections leaves nothing behind
    install.helm("install", RELEASE, str(CHART_DIR), "-f", values, "--wait", "--timeout", "4m")
    assert target.keys() == keys_at_install
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"
    install.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")
    target.kubectl("delete", "mcpc", "--all", "-n", ns)

    async def only_admin_objects() -> bool:
        secrets = {s["metadata"]["name"] for s in target.get("secrets")}
        return not target.get("pods") and secrets == {f"{RELEASE}-keys", "mcpod-db"}

    await eventually(only_admin_objects, within=120, what="connections' pods and Secrets to go")


async def test_sqlite_trial_keeps_its_data_on_the_claim(
    target: Target, helm: Helm, tmp_path: Path
) -> None:
    """database.type=sqlite: one gateway replica, its SQLite file on the chart's claim; the
    accounts and tokens survive the gateway pod being replaced, and the claim survives
    uninstall (documented policy)."""
    install = Install(target, helm)
    target.kubectl("label", "namespace", target.ns, "pod-security.kubernetes.io/enforce=restricted")
    values_file = tmp_path / "values.yaml"
    base = {
        "gateway": {"publicUrl": PUBLIC_URL, "replicas": 1, "registration": "open"},
        "database": {"type": "sqlite"},
    }
    values_file.write_text(yaml.safe_dump(merge_values(base, target.extra_values)))
    # No --wait: the dev cluster has no volume provisioner, so the claim stays Pending (the
    # process kubelet gives the claim a directory of its own instead).
    install.helm("install", RELEASE, str(CHART_DIR), "-f", str(values_file))
    await install.wait_ready("gateway", 1)
    await install.wait_ready("operator", 1)
    [claim] = target.get("persistentvolumeclaims")
    assert claim["metadata"]["name"] == f"{RELEASE}-gateway-data"

    token = await install.person_adds_a_connection(sentinel_pat("sqlite"))
    [connection] = target.get("mcpconnections")
    selector = f"{v.LABEL_CONNECTION}={connection['metadata']['name']}"

    async def connection_pod_ready() -> bool:
        return any(is_ready(p) for p in target.get("pods", "-l", selector))

    await eventually(connection_pod_ready, within=120, what="a Ready connection pod")
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"

    [first] = install.pods("gateway")
    target.kubectl("delete", "pod", "-n", target.ns, first["metadata"]["name"])

    async def replaced() -> bool:
        pods = install.pods("gateway")
        return (
            len(pods) == 1
            and is_ready(pods[0])
            and pods[0]["metadata"]["uid"] != first["metadata"]["uid"]
        )

    await eventually(replaced, within=180, interval=0.5, what="a new gateway pod")
    # The new pod reads the same file: the token (stored hashed there) still works.
    data = await install.call_through_gateway(token)
    assert data["organization"] == "contoso"

    install.helm("uninstall", RELEASE, "--wait", "--timeout", "2m")
    assert [c["metadata"]["name"] for c in target.get("persistentvolumeclaims")] == [
        f"{RELEASE}-gateway-data"
    ]
