"""The kubernetes backend on the real control plane: agent (MCP SDK) → gateway → pod (process
kubelet) → bridge → fake upstream, with the real operator; label re-checks against impostor pods;
wake after scale-to-zero; PAT rotation; and one run with the real @azure-devops/mcp."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fixtures.mcp_gateway import agent, running_mcp_gateway, sentinel_pat
from gateway_kube_support import KubeWorld, start_operator
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_common.vocabulary import (
    ANNOTATION_LAST_ACTIVITY,
    APP_NAME_CONNECTION,
    FAKE_SERVER_VERSION,
    KIND,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_OWNER,
)
from support.polling import eventually

REAL_UPSTREAM = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "mcpod/upstream/node_modules/@azure-devops/mcp/dist/index.js"
)


def _json(world: KubeWorld, *args: str) -> Any:
    done = world.control_plane.kubectl("-n", world.namespace, *args, "-o", "json")
    return json.loads(done.stdout)


def _organization(result: Any) -> str:
    assert not result.is_error, result
    return str(json.loads(result.content[0].text)["organization"])


def impostor_pod(
    world: KubeWorld,
    name: str,
    *,
    labels: dict[str, str],
    owner_refs: list[dict[str, Any]],
    token: str,
) -> dict[str, Any]:
    """A pod that would answer as "impostor-org" if the gateway ever routed to it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": world.namespace,
            "labels": labels,
            "ownerReferences": owner_refs,
        },
        "spec": {
            "containers": [
                {
                    "name": "bridge",
                    "image": f"mcpod/connection:{FAKE_SERVER_VERSION}",
                    "env": [
                        {"name": "MCPOD_ORGANIZATION", "value": "impostor-org"},
                        {"name": "MCPOD_PAT", "value": "impostor-pat-0123456789abcdef"},
                        {"name": "MCPOD_BRIDGE_TOKEN", "value": token},
                    ],
                    "readinessProbe": {
                        "httpGet": {"path": "/readyz", "port": 8080},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }


async def test_agent_through_kubernetes_pods_and_impostors_are_never_used(
    kube_world: KubeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = kube_world
    monkeypatch.setenv("KUBECONFIG", str(world.control_plane.kubeconfig))
    async with running_mcp_gateway(
        tmp_path,
        backend="kubernetes",
        namespace=world.namespace,
        routing_key=world.routing_key,
        mcp_overrides={"mcp_wake_timeout_seconds": 6},
    ) as gw:
        alice, alice_token = await gw.user_with_token("alice")
        bob, _bob_token = await gw.user_with_token("bob")
        view = await gw.create_connection(
            alice, "work", "alice-org", sentinel_pat(), domains=["core"]
        )
        cr = _json(world, "get", "mcpconnection", view.name)
        assert cr["spec"]["owner"] == alice
        secret_name = cr["spec"]["credentials"]["secretRef"]["name"]
        secret = _json(world, "get", "secret", secret_name)
        assert secret["metadata"]["ownerReferences"][0]["uid"] == view.uid
        token = derive_bridge_token(world.routing_key.encode(), view.uid)
        right = {
            LABEL_APP_NAME: APP_NAME_CONNECTION,
            LABEL_OWNER: alice,
            LABEL_CONNECTION: view.name,
        }
        owner_ref = [
            {"apiVersion": "mcpod.dev/v1alpha1", "kind": KIND, "name": view.name, "uid": view.uid}
        ]
        impostors = [
            # Right labels, but not controlled by the connection.
            impostor_pod(world, f"{view.name}-impostor1", labels=right, owner_refs=[], token=token),
            # Controlled by it, at a pod-like name, but labelled for another owner.
            impostor_pod(
                world,
                f"{view.name}-0000000000",
                labels={**right, LABEL_OWNER: bob},
                owner_refs=owner_ref,
                token=token,
            ),
        ]
        for pod in impostors:
            world.control_plane.kubectl("apply", "-f", "-", stdin=json.dumps(pod))

        async def impostors_ready() -> bool:
            pods = _json(world, "get", "pods")["items"]
            ready = [
                p
                for p in pods
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", [])
                )
            ]
            return len(ready) == len(impostors) and all(
                p["metadata"]["name"] in gw.backend.pods.items for p in ready
            )

        await eventually(
            impostors_ready, what="impostor pods ready and seen by the gateway", within=90
        )
        assert gw.backend.ready_endpoint(view) is None
        async with agent(gw.url, alice_token, "auto") as client:
            # No operator yet: the call wakes (stamps the CR) and gives up after the wake timeout.
            refused = await client.call_tool("work__core_list_projects", {})
            assert refused.is_error
            assert "impostor-org" not in refused.content[0].text
            assert "did not become ready" in refused.content[0].text
            stamped = _json(world, "get", "mcpconnection", view.name)["metadata"]["annotations"]
            assert ANNOTATION_LAST_ACTIVITY in stamped
            # With the operator, the real pod comes up and answers; impostors stay unused.
            world.operator = start_operator(world, tmp_path / "operator.log")
            answered = await eventually(
                lambda: _call_until_answered(client), what="answer from the real pod", within=120
            )
            assert _organization(answered) == "alice-org"
            for _ in range(5):
                assert (
                    _organization(await client.call_tool("work__core_list_projects", {}))
                    == "alice-org"
                )
            names = [t.name for t in (await client.list_tools()).tools]
            assert "work__core_list_projects" in names


async def _call_until_answered(client: Any) -> Any:
    result = await client.call_tool("work__core_list_projects", {})
    return None if result.is_error else result


async def test_scaled_to_zero_connection_wakes_and_pat_rotation_replaces_the_pod(
    kube_world: KubeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = kube_world
    monkeypatch.setenv("KUBECONFIG", str(world.control_plane.kubeconfig))
    world.operator = start_operator(world, tmp_path / "operator.log")
    async with running_mcp_gateway(
        tmp_path, backend="kubernetes", namespace=world.namespace, routing_key=world.routing_key
    ) as gw:
        user, token = await gw.user_with_token()
        view = await gw.create_connection(
            user, "work", "contoso", sentinel_pat("first"), domains=["core"]
        )
        async with agent(gw.url, token, "legacy") as client:
            assert (
                _organization(await client.call_tool("work__core_list_projects", {})) == "contoso"
            )

            async def catalogued() -> bool:
                names = [t.name for t in (await client.list_tools()).tools]
                return "work__core_list_projects" in names

            # The catalogue is taken once the pod is ready (a precondition of what follows).
            await eventually(catalogued, what="the connection's tool catalogue", within=30)
            # Scale to zero: an idle timeout below the portal minimum (the creation time counts
            # as activity too, so the pod goes once 15 s have passed since then).
            stale = {ANNOTATION_LAST_ACTIVITY: "2020-01-01T00:00:00Z"}
            world.control_plane.kubectl(
                "-n",
                world.namespace,
                "patch",
                "mcpconnection",
                view.name,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"idleTimeout": "15s"}, "metadata": {"annotations": stale}}),
            )

            async def no_pods() -> bool:
                pods = _json(world, "get", "pods", "-l", f"{LABEL_CONNECTION}={view.name}")["items"]
                return not pods

            await eventually(no_pods, what="connection scaled to zero", within=90)
            # tools/list comes from the catalogue and starts nothing.
            names = [t.name for t in (await client.list_tools()).tools]
            assert "work__core_list_projects" in names
            assert await no_pods()
            # The next call wakes it and waits for the pod.
            assert (
                _organization(await client.call_tool("work__core_list_projects", {})) == "contoso"
            )
            first_pod = _json(world, "get", "pods", "-l", f"{LABEL_CONNECTION}={view.name}")[
                "items"
            ][0]
            new_pat = sentinel_pat("second")
            await gw.backend.rotate_pat(user, "work", new_pat)

            async def replaced() -> bool:
                pods = _json(world, "get", "pods", "-l", f"{LABEL_CONNECTION}={view.name}")["items"]
                return any(p["metadata"]["name"] != first_pod["metadata"]["name"] for p in pods)

            await eventually(replaced, what="pod replaced after rotation", within=90)
            answered = await eventually(
                lambda: _call_until_answered(client), what="answer after rotation", within=120
            )
            payload = json.loads(answered.content[0].text)
            assert payload["patLength"] == len(new_pat)
        cr_text = world.control_plane.kubectl(
            "-n", world.namespace, "get", "mcpconnection", view.name, "-o", "yaml"
        ).stdout
        events = world.control_plane.kubectl(
            "-n", world.namespace, "get", "events", "-o", "yaml"
        ).stdout
        for text in (cr_text, events):
            assert new_pat not in text


async def test_real_upstream_lists_prefixed_tools_and_returns_its_own_tool_error(
    kube_world: KubeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not REAL_UPSTREAM.is_file():
        pytest.skip(
            f"@azure-devops/mcp is not installed at {REAL_UPSTREAM}: run scripts/setup.sh run"
        )
    world = kube_world
    monkeypatch.setenv("KUBECONFIG", str(world.control_plane.kubeconfig))
    world.operator = start_operator(world, tmp_path / "operator.log", server_version="2.10.0")
    async with running_mcp_gateway(
        tmp_path, backend="kubernetes", namespace=world.namespace, routing_key=world.routing_key
    ) as gw:
        user, token = await gw.user_with_token()
        await gw.create_connection(user, "ado", "contoso", sentinel_pat(), domains=["core", "work"])
        async with agent(gw.url, token, "auto") as client:
            result = await eventually(
                lambda: _call_real(client), what="the real upstream answered", within=180
            )
            assert result.is_error  # no route to Azure DevOps here: the upstream's own tool error
            text = result.content[0].text
            assert "did not become ready" not in text
            names = await eventually(
                lambda: _names_when_listed(client), what="catalogue", within=60
            )
            assert "ado__core_list_projects" in names
            assert all(len(n) <= 64 for n in names)


async def _call_real(client: Any) -> Any:
    result = await client.call_tool("ado__core_list_projects", {})
    text = result.content[0].text
    return None if "did not become ready" in text or "not ready" in text else result


async def _names_when_listed(client: Any) -> list[str] | None:
    names = [t.name for t in (await client.list_tools()).tools]
    return names if "ado__core_list_projects" in names else None
