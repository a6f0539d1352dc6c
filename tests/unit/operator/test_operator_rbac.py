"""The operator's RBAC manifests grant exactly the contract (ARCHITECTURE.md, least privilege)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RBAC = Path(__file__).resolve().parents[3] / "operator" / "rbac"


def _objects() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(RBAC.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _grants(kind: str) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for obj in _objects():
        if obj["kind"] != kind:
            continue
        for rule in obj["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def test_cluster_role_is_the_contract() -> None:
    assert _grants("ClusterRole") == {
        ("mcpod.dev", "mcpconnections"): {"get", "list", "watch", "patch"},
        ("mcpod.dev", "mcpconnections/status"): {"get", "patch"},
        ("", "pods"): {"create", "delete", "get", "list", "watch"},
        ("", "secrets"): {"create"},
        ("", "events"): {"create"},
    }


def test_never_reads_secrets_and_no_wildcards() -> None:
    for obj in _objects():
        for rule in obj.get("rules", []):
            assert "*" not in rule["verbs"]
            assert "*" not in rule["resources"]
            if "secrets" in rule["resources"]:
                assert set(rule["verbs"]) == {"create"}


def test_lease_access_is_limited_to_its_name() -> None:
    (role,) = [o for o in _objects() if o["kind"] == "Role"]
    named = [r for r in role["rules"] if "resourceNames" in r]
    unnamed = [r for r in role["rules"] if "resourceNames" not in r]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["mcpod-operator"],
            "verbs": ["get", "update"],
        }
    ]
    assert [r["verbs"] for r in unnamed] == [["create"]]


def test_bindings_point_at_the_service_account() -> None:
    bindings = [o for o in _objects() if o["kind"].endswith("Binding")]
    assert len(bindings) == 3
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mcpod-operator", "namespace": "mcpod-system"}
        ]
