"""The control plane itself: version, the CRD's schema and columns, garbage collection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fixtures.cluster import ControlPlaneHandle, Kubectl
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_common import vocabulary as v
from support.polling import eventually

REPO = Path(__file__).resolve().parents[3]
# Custom resources take JSON merge patches; the client would otherwise pick JSON Patch.
MERGE: dict[str, Any] = {"_content_type": "application/merge-patch+json"}


def pinned_kubernetes_version() -> str:
    go_mod = (REPO / "tools" / "k8s" / "go.mod").read_text()
    match = re.search(r"k8s\.io/kubernetes (v\d+\.\d+\.\d+)", go_mod)
    assert match, "tools/k8s/go.mod must require k8s.io/kubernetes"
    return match.group(1)


def connection(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": "u-alice",
        "slug": "work",
        "organization": "contoso",
        "credentials": {"secretRef": {"name": f"{name}-pat"}},
    }
    body.update(spec)
    return {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "metadata": {"name": name, "labels": {v.LABEL_OWNER: body["owner"]}},
        "spec": {k: val for k, val in body.items() if val is not None},
    }


async def test_version_reports_the_pinned_release(kube_api: client.ApiClient) -> None:
    info = await client.VersionApi(kube_api).get_code()
    assert info.git_version == pinned_kubernetes_version()


def test_kubectl_shows_printer_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=_yaml(connection("c-1")))
    out = kubectl("get", "mcpc", "-n", namespace).stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "OWNER", "ORG", "SLUG", "PHASE", "READY", "LAST-ACTIVE", "AGE"]
    row = out.splitlines()[1].split()
    assert row[:4] == ["c-1", "u-alice", "contoso", "work"]
    # The category and the full name reach the same resource.
    assert "c-1" in kubectl("get", "mcpod", "-n", namespace).stdout
    assert "c-1" in kubectl("get", "mcpconnections.mcpod.dev", "-n", namespace).stdout


async def test_defaults_are_applied(kube_api: client.ApiClient, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_api)
    created = await api.create_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, connection("c-2")
    )
    assert created["spec"]["readOnly"] is False
    assert created["spec"]["suspended"] is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"slug": "Bad_Slug"}, "spec.slug"),
        ({"slug": "x" * 23}, "spec.slug"),
        ({"owner": "Alice"}, "spec.owner"),
        ({"domains": ["core", "wrk"]}, 'Unsupported value: "wrk"'),
        ({"domains": ["core,work"]}, 'Unsupported value: "core,work"'),
        ({"organization": None}, "spec.organization: Required value"),
        ({"organization": "-contoso"}, "spec.organization"),
        ({"credentials": {"secretRef": {}}}, "spec.credentials.secretRef.name: Required value"),
        ({"idleTimeout": "ten minutes"}, "spec.idleTimeout"),
        ({"serverVersion": "latest"}, "spec.serverVersion"),
        ({"tools": {"allow": ["wit_*; rm -rf"]}}, "spec.tools.allow[0]"),
    ],
)
def test_invalid_connections_are_rejected_with_a_clear_message(
    kubectl: Kubectl, namespace: str, spec: dict[str, Any], message: str
) -> None:
    result = kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=_yaml(connection("bad", **spec)), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "bad" not in kubectl("get", "mcpc", "-n", namespace, "-o", "name").stdout


@pytest.mark.parametrize(("field", "value"), [("owner", "u-mallory"), ("slug", "other")])
async def test_owner_and_slug_are_immutable(
    kube_api: client.ApiClient, namespace: str, field: str, value: str
) -> None:
    api = client.CustomObjectsApi(kube_api)
    await api.create_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, connection("c-3")
    )
    with pytest.raises(ApiException) as caught:
        await api.patch_namespaced_custom_object(
            v.GROUP, v.VERSION, namespace, v.PLURAL, "c-3", {"spec": {field: value}}, **MERGE
        )
    assert caught.value.status == 422
    assert f"{field} is immutable" in caught.value.body
    # Mutable fields still change.
    await api.patch_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, "c-3", {"spec": {"readOnly": True}}, **MERGE
    )


async def test_status_subresource_is_separate(kube_api: client.ApiClient, namespace: str) -> None:
    api = client.CustomObjectsApi(kube_api)
    await api.create_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, connection("c-4")
    )
    # A status write through the main resource is ignored...
    await api.patch_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, "c-4", {"status": {"phase": "Ready"}}, **MERGE
    )
    got = await api.get_namespaced_custom_object(v.GROUP, v.VERSION, namespace, v.PLURAL, "c-4")
    assert "status" not in got or "phase" not in got["status"]
    # ...and validated when it goes through the subresource.
    with pytest.raises(ApiException) as caught:
        await api.patch_namespaced_custom_object_status(
            v.GROUP,
            v.VERSION,
            namespace,
            v.PLURAL,
            "c-4",
            {"status": {"phase": "Sleeping"}},
            **MERGE,
        )
    assert caught.value.status == 422


async def test_secret_owned_by_a_deleted_connection_is_garbage_collected(
    kube_api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    core = client.CoreV1Api(kube_api)
    cr = await custom.create_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, connection("c-5")
    )
    owner_ref = {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "name": "c-5",
        "uid": cr["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    await core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "c-5-pat", "ownerReferences": [owner_ref]},
            "stringData": {"pat": "x"},
        },
    )
    await custom.delete_namespaced_custom_object(v.GROUP, v.VERSION, namespace, v.PLURAL, "c-5")

    async def secret_gone() -> bool:
        try:
            await core.read_namespaced_secret("c-5-pat", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    await eventually(secret_gone, within=30, what="garbage collection of the owned Secret")


def test_handle_exposes_a_working_kubeconfig(control_plane: ControlPlaneHandle) -> None:
    out = control_plane.kubectl("get", "nodes", "-o", "name").stdout
    assert "node/mcpod-process-node" in out


def _yaml(doc: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(doc)
