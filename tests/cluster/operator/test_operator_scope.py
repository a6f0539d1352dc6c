"""Which namespaces the operator watches: the configured ones only, or all of them."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from mcpod_common import vocabulary as v
from mcpod_operator import conditions as c
from operator_harness import Cluster, connection_body
from support.polling import eventually


@pytest.fixture
async def other_namespace(cluster: Cluster) -> AsyncIterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    core = client.CoreV1Api(cluster.api)
    await core.create_namespace({"metadata": {"name": name, "labels": {"mcpod.dev/test": "1"}}})
    yield name
    await core.delete_namespace(name, propagation_policy="Background")


async def _create_elsewhere(cluster: Cluster, namespace: str, name: str) -> None:
    await client.CoreV1Api(cluster.api).create_namespaced_secret(
        namespace, {"metadata": {"name": f"{name}-pat"}, "stringData": {"pat": "x-pat"}}
    )
    await cluster.custom.create_namespaced_custom_object(
        v.GROUP, v.VERSION, namespace, v.PLURAL, connection_body(name)
    )


async def test_other_namespaces_are_left_alone(cluster: Cluster, other_namespace: str) -> None:
    operator = cluster.start_operator()
    await _create_elsewhere(cluster, other_namespace, "c-elsewhere")
    await cluster.create_connection("c-here")
    await cluster.wait_phase("c-here", c.PHASE_READY)
    body = await cluster.custom.get_namespaced_custom_object(
        v.GROUP, v.VERSION, other_namespace, v.PLURAL, "c-elsewhere"
    )
    assert "status" not in body
    assert "c-elsewhere" not in operator.log()


async def test_all_namespaces_with_a_cluster_role_binding(
    cluster: Cluster, other_namespace: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    binding = f"mcpod-operator-{cluster.namespace}"
    await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "mcpod-operator",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "mcpod-operator", "namespace": cluster.namespace}
            ],
        }
    )
    try:
        cluster.start_operator(MCPOD_NAMESPACE="*")
        await _create_elsewhere(cluster, other_namespace, "c-far")

        async def ready() -> bool:
            body = await cluster.custom.get_namespaced_custom_object(
                v.GROUP, v.VERSION, other_namespace, v.PLURAL, "c-far"
            )
            return (body.get("status") or {}).get("phase") == c.PHASE_READY

        await eventually(ready, within=60, what="a Ready connection in another namespace")
    finally:
        cluster.stop_all()
        try:
            await rbac.delete_cluster_role_binding(binding)
        except ApiException as error:
            if error.status != 404:
                raise
