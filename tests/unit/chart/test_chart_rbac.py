"""The chart grants exactly the rights of ARCHITECTURE.md's "Least privilege", no more.

The operator's rules must equal operator/rbac/ (the operator engineer's manifests); the
gateway's are spelled out here from the contract.
"""

from __future__ import annotations

from typing import Any

import yaml
from fixtures.helm import REPO_ROOT, RenderChart
from mcpod_common import vocabulary as v

OPERATOR_RBAC = REPO_ROOT / "operator" / "rbac"

Rule = tuple[str, str, frozenset[str], frozenset[str]]


def normalize(rules: list[dict[str, Any]]) -> set[Rule]:
    """One (group, resource, verbs, names) entry per group x resource, order-insensitive."""
    out: set[Rule] = set()
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                out.add(
                    (
                        group,
                        resource,
                        frozenset(rule.get("verbs", [])),
                        frozenset(rule.get("resourceNames", [])),
                    )
                )
    return out


def verbs_by_resource(rules: set[Rule]) -> dict[tuple[str, str], set[str]]:
    merged: dict[tuple[str, str], set[str]] = {}
    for group, resource, verbs, _ in rules:
        merged.setdefault((group, resource), set()).update(verbs)
    return merged


def manifest(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((OPERATOR_RBAC / name).read_text()) if d]


def roles(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}


def test_operator_rules_equal_the_operator_manifests(render_chart: RenderChart) -> None:
    [cluster_role] = manifest("clusterrole.yaml")
    chart = roles(render_chart())["mcpod-operator"]
    assert normalize(chart["rules"]) == normalize(cluster_role["rules"])


def test_operator_leader_election_rules_equal_the_operator_manifests(
    render_chart: RenderChart,
) -> None:
    [role] = [d for d in manifest("leader-election.yaml") if d["kind"] == "Role"]
    chart = roles(render_chart())["mcpod-operator-leader-election"]
    # With the default release name the Lease has the manifests' name.
    assert normalize(chart["rules"]) == normalize(role["rules"])
    renamed = roles(render_chart(release="team"))["team-mcpod-operator-leader-election"]
    names = {n for r in normalize(renamed["rules"]) for n in r[3]}
    assert names == {"team-mcpod-operator"}


def test_operator_rights_match_the_contract(render_chart: RenderChart) -> None:
    rules = normalize(roles(render_chart())["mcpod-operator"]["rules"])
    assert verbs_by_resource(rules) == {
        (v.GROUP, v.PLURAL): {"get", "list", "watch", "patch"},
        (v.GROUP, f"{v.PLURAL}/status"): {"get", "patch"},
        ("", "pods"): {"create", "delete", "get", "list", "watch"},
        ("", "secrets"): {"create"},
        ("", "events"): {"create"},
    }


def test_gateway_rights_match_the_contract(render_chart: RenderChart) -> None:
    rules = normalize(roles(render_chart())["mcpod-gateway"]["rules"])
    assert verbs_by_resource(rules) == {
        (v.GROUP, v.PLURAL): {"get", "list", "watch", "create", "patch", "delete"},
        # Never get/list/watch: the gateway writes PATs but can never read one back.
        ("", "secrets"): {"create", "patch", "delete"},
        ("", "pods"): {"get", "list", "watch"},
    }


def test_no_one_may_read_secrets_and_nothing_is_cluster_wide(render_chart: RenderChart) -> None:
    for values in ({}, {"connections": {"namespace": "people"}}):
        objects = render_chart(values)
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
        for role in roles(objects).values():
            for group, resource, verbs, _ in normalize(role["rules"]):
                assert "*" not in verbs
                assert "*" not in (resource, group)
                if resource == "secrets":
                    assert not verbs & {"get", "list", "watch"}, role["metadata"]["name"]


def test_bindings_tie_each_role_to_its_own_service_account(render_chart: RenderChart) -> None:
    objects = render_chart({"connections": {"namespace": "people"}})
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    role_names = roles(objects)
    assert len(bindings) == len(role_names) == 3
    for binding in bindings:
        role = role_names[binding["roleRef"]["name"]]
        assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
        [subject] = binding["subjects"]
        assert subject["kind"] == "ServiceAccount"
        assert subject["namespace"] == "mcpod-system"
        component = "gateway" if "gateway" in binding["metadata"]["name"] else "operator"
        assert subject["name"] == f"mcpod-{component}"
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    assert accounts == {"mcpod-gateway", "mcpod-operator"}
    deployments = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["serviceAccountName"]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert deployments == {"mcpod-gateway": "mcpod-gateway", "mcpod-operator": "mcpod-operator"}
