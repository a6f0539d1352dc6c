"""The real API server accepts every object the chart renders, and the pods pass PodSecurity
"restricted" (the API server's PodSecurity admission is on in the dev control plane)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.cluster import ControlPlaneHandle, Kubectl
from fixtures.helm import REQUIRED_VALUES, Helm, merge_values, parse_manifests
from mcpod_common import vocabulary as v

VALUES_DIR = Path(__file__).parents[2] / "unit" / "chart" / "values"


def apply_dry_run(kubectl: Kubectl, objects: list[dict[str, Any]]) -> tuple[str, str]:
    """Server-side apply in dry-run mode; returns (stdout, stderr). Fails on any rejection."""
    docs = yaml.safe_dump_all(objects)
    proc = kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=mcpod-chart-test",
        "-f", "-", stdin=docs, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"the API server rejected the chart:\n{proc.stderr}"
    return proc.stdout, proc.stderr


def create_namespace(kubectl: Kubectl, labels: dict[str, str] | None = None) -> str:
    name = f"t-chart-{secrets.token_hex(3)}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if labels:
        body["metadata"]["labels"] = labels
    kubectl("create", "-f", "-", stdin=json.dumps(body))
    return name


@pytest.fixture
def extra_namespaces(kubectl: Kubectl) -> Any:
    made: list[str] = []

    def make(labels: dict[str, str] | None = None) -> str:
        name = create_namespace(kubectl, labels)
        made.append(name)
        return name

    yield make
    for name in made:
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def render(helm: Helm, values: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    text = helm.template(values, namespace=namespace, extra=("--include-crds",))
    return parse_manifests(text)


def test_defaults_pass_server_side_dry_run(
    control_plane: ControlPlaneHandle, helm: Helm, kubectl: Kubectl, namespace: str
) -> None:
    objects = render(helm, REQUIRED_VALUES, namespace)
    out, err = apply_dry_run(kubectl, objects)
    assert "Warning" not in err, err
    for obj in objects:
        line = f"{obj['kind'].lower()}"
        assert any(
            line in row and obj["metadata"]["name"] in row and "server dry run" in row
            for row in out.splitlines()
        ), f"{obj['kind']} {obj['metadata']['name']} missing from:\n{out}"
    assert any(v.CRD_NAME in row for row in out.splitlines())


def test_full_values_pass_server_side_dry_run(
    control_plane: ControlPlaneHandle,
    helm: Helm,
    kubectl: Kubectl,
    namespace: str,
    extra_namespaces: Any,
) -> None:
    people = extra_namespaces()
    full = yaml.safe_load((VALUES_DIR / "full.yaml").read_text())
    values = merge_values(full, {"connections": {"namespace": people}})
    objects = render(helm, values, namespace)
    assert {o["kind"] for o in objects} >= {"Ingress", "NetworkPolicy", "PodDisruptionBudget"}
    out, _ = apply_dry_run(kubectl, objects)
    assert out.count("server dry run") == len(objects)


def test_sqlite_trial_passes_server_side_dry_run(
    control_plane: ControlPlaneHandle, helm: Helm, kubectl: Kubectl, namespace: str
) -> None:
    values = yaml.safe_load((VALUES_DIR / "sqlite.yaml").read_text())
    objects = render(helm, values, namespace)
    assert "PersistentVolumeClaim" in {o["kind"] for o in objects}
    out, _ = apply_dry_run(kubectl, objects)
    assert out.count("server dry run") == len(objects)


def pods_of(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The pods the Deployments would create (PodSecurity enforces on pods, not templates)."""
    pods = []
    for d in objects:
        if d["kind"] != "Deployment":
            continue
        template = d["spec"]["template"]
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{d['metadata']['name']}-probe",
                    "namespace": namespace,
                    "labels": template["metadata"]["labels"],
                },
                "spec": template["spec"],
            }
        )
    return pods


def connection_pod(namespace: str) -> dict[str, Any]:
    """A connection pod exactly as the operator builds it."""
    from mcpod_operator.connection import parse_connection
    from mcpod_operator.pod import build_connection_pod
    from mcpod_operator.settings import load_settings

    body = {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "metadata": {
            "name": "c-probe",
            "namespace": namespace,
            "uid": "00000000-0000-0000-0000-000000000001",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "owner": "u-probe",
            "slug": "work",
            "organization": "contoso",
            "credentials": {"secretRef": {"name": "probe-pat"}},
        },
    }
    settings = load_settings({"MCPOD_NAMESPACE": namespace, "MCPOD_ROUTING_KEY": "r" * 40})
    pod = build_connection_pod(parse_connection(body), settings)
    pod["metadata"].pop("ownerReferences", None)  # the owner does not exist in a dry run
    return pod


def test_every_pod_is_admitted_under_podsecurity_restricted(
    control_plane: ControlPlaneHandle, helm: Helm, kubectl: Kubectl, extra_namespaces: Any
) -> None:
    restricted = extra_namespaces(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }
    )
    for values in (
        REQUIRED_VALUES,
        yaml.safe_load((VALUES_DIR / "sqlite.yaml").read_text()),
    ):
        objects = render(helm, values, restricted)
        # Deployments get warnings (not rejections) from PodSecurity: none may appear.
        _, err = apply_dry_run(kubectl, [o for o in objects if o["kind"] == "Deployment"])
        assert "PodSecurity" not in err, err
        pods = pods_of(objects, restricted)
        assert len(pods) == 2
        out, err = apply_dry_run(kubectl, pods)
        assert "PodSecurity" not in err, err
        assert out.count("server dry run") == 2
    out, err = apply_dry_run(kubectl, [connection_pod(restricted)])
    assert "PodSecurity" not in err, err


def test_restricted_namespace_really_rejects_a_privileged_pod(
    control_plane: ControlPlaneHandle, kubectl: Kubectl, extra_namespaces: Any
) -> None:
    """The control for the test above: PodSecurity admission is on and enforcing."""
    restricted = extra_namespaces({"pod-security.kubernetes.io/enforce": "restricted"})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loose", "namespace": restricted},
        "spec": {"containers": [{"name": "c", "image": "mcpod/process"}]},
    }
    proc = kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-",
        stdin=json.dumps(pod), check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted' in proc.stderr
