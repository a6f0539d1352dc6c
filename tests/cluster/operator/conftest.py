"""A namespace with the operator's RBAC installed, and a way to run the operator in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fixtures.cluster import ControlPlaneHandle
from kubernetes_asyncio import client
from operator_harness import Cluster, install_rbac, service_account_kubeconfig


@pytest.fixture
async def cluster(
    control_plane: ControlPlaneHandle,
    kube_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> AsyncIterator[Cluster]:
    await install_rbac(kube_api, namespace)
    kubeconfig = await service_account_kubeconfig(
        kube_api, namespace, control_plane.kubeconfig, tmp_path / "operator.kubeconfig"
    )
    handle = Cluster(api=kube_api, namespace=namespace, kubeconfig=kubeconfig, workdir=tmp_path)
    try:
        yield handle
    finally:
        handle.stop_all()
        for i, operator in enumerate(handle.operators):
            # Shown by pytest when the test failed.
            print(f"--- operator {i} log ---\n{operator.log()[-6000:]}")
