"""The chart renders what the contract says, with its defaults and with every value set."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.helm import CHART_DIR, REPO_ROOT, REQUIRED_VALUES, Helm, RenderChart, merge_values
from mcpod_common import vocabulary as v

VALUES_DIR = Path(__file__).parent / "values"


def load_values(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((VALUES_DIR / name).read_text())
    return data


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, got {[o['metadata'] for o in found]}"
    return found[0]


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def secret_ref(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_crd_in_chart_is_the_same_file_as_crds_folder() -> None:
    chart_crds = sorted(p.name for p in (CHART_DIR / "crds").iterdir())
    assert chart_crds == [f"{v.CRD_NAME}.yaml"]
    source = (REPO_ROOT / "crds" / f"{v.CRD_NAME}.yaml").read_bytes()
    assert (CHART_DIR / "crds" / f"{v.CRD_NAME}.yaml").read_bytes() == source, (
        f"the chart's CRD differs: cp crds/{v.CRD_NAME}.yaml charts/mcpod/crds/"
    )


def test_lint_passes_strict_with_defaults_and_with_full_values(helm: Helm) -> None:
    required = VALUES_DIR / "required.yaml"
    for values in ("full.yaml", "sqlite.yaml"):
        out = helm.run("lint", "--strict", str(CHART_DIR), "-f", str(VALUES_DIR / values))
        assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout
    out = helm.run("lint", "--strict", str(CHART_DIR), "-f", str(required))
    assert "0 chart(s) failed" in out.stdout


def test_required_values_file_matches_the_fixture() -> None:
    assert yaml.safe_load((VALUES_DIR / "required.yaml").read_text()) == REQUIRED_VALUES


def test_defaults_render_the_expected_objects(render_chart: RenderChart) -> None:
    objects = render_chart()
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == sorted(
        [
            ("Deployment", "mcpod-gateway"),
            ("Deployment", "mcpod-operator"),
            ("NetworkPolicy", "mcpod-connections"),
            ("PodDisruptionBudget", "mcpod-gateway"),
            ("Role", "mcpod-gateway"),
            ("Role", "mcpod-operator"),
            ("Role", "mcpod-operator-leader-election"),
            ("RoleBinding", "mcpod-gateway"),
            ("RoleBinding", "mcpod-operator"),
            ("RoleBinding", "mcpod-operator-leader-election"),
            ("Secret", "mcpod-keys"),
            ("Service", "mcpod-gateway"),
            ("ServiceAccount", "mcpod-gateway"),
            ("ServiceAccount", "mcpod-operator"),
        ]
    )
    for obj in objects:
        assert obj["metadata"]["namespace"] == "mcpod-system", obj["metadata"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "mcpod"


def test_operator_gets_the_contract_settings(render_chart: RenderChart) -> None:
    objects = render_chart()
    operator = one(objects, "Deployment", "mcpod-operator")
    pod = operator["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"{v.IMAGE_OPERATOR}:0.1.0"
    assert pod["serviceAccountName"] == "mcpod-operator"
    env = env_of(operator)
    assert env["MCPOD_NAMESPACE"]["value"] == "mcpod-system"
    assert env["MCPOD_CONNECTION_IMAGE"]["value"] == v.IMAGE_CONNECTION
    assert env["MCPOD_SERVER_VERSION"]["value"] == "2.10.0"
    assert env["MCPOD_IDLE_TIMEOUT"]["value"] == "10m"
    assert env["MCPOD_LEASE_NAME"]["value"] == "mcpod-operator"
    assert env["MCPOD_LEASE_NAMESPACE"]["value"] == "mcpod-system"
    assert env["MCPOD_LEADER_ELECTION"]["value"] == "true"
    assert secret_ref(env, "MCPOD_ROUTING_KEY") == ("mcpod-keys", "routing-key")
    assert operator["spec"]["replicas"] == 1


def test_operator_settings_render_into_values_the_operator_accepts(
    render_chart: RenderChart,
) -> None:
    """The env the chart writes is parsed by the operator's own settings loader."""
    from mcpod_operator.settings import load_settings

    for values in ({}, load_values("full.yaml")):
        operator = next(
            o
            for o in by_kind(render_chart(values), "Deployment")
            if o["metadata"]["name"].endswith("-operator")
        )
        env = {name: e["value"] for name, e in env_of(operator).items() if "value" in e} | {
            "MCPOD_ROUTING_KEY": "k" * 40
        }
        settings = load_settings(env)
        assert settings.namespaces == ("mcpod-system",)
        assert settings.lease_name == env["MCPOD_LEASE_NAME"]


def test_gateway_gets_the_contract_settings(render_chart: RenderChart) -> None:
    objects = render_chart()
    gateway = one(objects, "Deployment", "mcpod-gateway")
    pod = gateway["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == f"{v.IMAGE_GATEWAY}:0.1.0"
    assert container["args"] == ["serve"]
    env = env_of(gateway)
    assert env["MCPOD_BACKEND"]["value"] == "kubernetes"
    assert env["MCPOD_NAMESPACE"]["value"] == "mcpod-system"
    assert env["MCPOD_PUBLIC_URL"]["value"] == "https://mcpod.example.com"
    assert env["MCPOD_LISTEN"]["value"] == "0.0.0.0:8000"
    assert secret_ref(env, "MCPOD_DATABASE_URL") == ("mcpod-db", "url")
    assert secret_ref(env, "MCPOD_ROUTING_KEY") == ("mcpod-keys", "routing-key")
    assert secret_ref(env, "MCPOD_SECRET_KEY") == ("mcpod-keys", "secret-key")
    assert secret_ref(env, "MCPOD_MASTER_KEY") == ("mcpod-keys", "master-key")
    assert "MCPOD_DEV" not in env
    assert gateway["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = one(objects, "Service", "mcpod-gateway")
    assert service["spec"]["selector"] == gateway["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert container["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}


def test_generated_keys_are_long_random_and_differ_per_render(helm: Helm) -> None:
    from fixtures.helm import parse_manifests

    def keys() -> dict[str, bytes]:
        objects = parse_manifests(helm.template(REQUIRED_VALUES))
        secret = one(objects, "Secret", "mcpod-keys")
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        return {k: base64.b64decode(val) for k, val in secret["data"].items()}

    first, second = keys(), keys()
    assert set(first) == {"routing-key", "secret-key", "master-key"}
    assert len(first["routing-key"]) >= 32
    assert len(first["secret-key"]) >= 32
    # The master key is 32 random bytes, base64-encoded (what MCPOD_MASTER_KEY accepts).
    assert len(base64.b64decode(first["master-key"])) == 32
    assert all(first[k] != second[k] for k in first)


def test_every_container_is_restricted_and_read_only(render_chart: RenderChart) -> None:
    for values in ({}, load_values("full.yaml"), load_values("sqlite.yaml")):
        for deployment in by_kind(render_chart(values), "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for container in pod["containers"]:
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False
                assert sc["readOnlyRootFilesystem"] is True
                assert sc["capabilities"] == {"drop": ["ALL"]}


def test_no_secret_value_is_written_into_a_pod_spec(render_chart: RenderChart) -> None:
    for deployment in by_kind(render_chart(load_values("full.yaml")), "Deployment"):
        for e in env_of(deployment).values():
            if e["name"] in ("MCPOD_ROUTING_KEY", "MCPOD_SECRET_KEY", "MCPOD_MASTER_KEY"):
                assert "value" not in e
                assert "secretKeyRef" in e["valueFrom"]


def test_network_policy_admits_only_gateway_and_allows_only_dns_and_https(
    render_chart: RenderChart,
) -> None:
    policy = one(render_chart(), "NetworkPolicy", "mcpod-connections")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        v.LABEL_APP_NAME: v.APP_NAME_CONNECTION,
        v.LABEL_MANAGED_BY: v.MANAGED_BY_OPERATOR,
    }
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = spec["ingress"]
    [peer] = ingress["from"]
    assert peer["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mcpod",
        "app.kubernetes.io/instance": "mcpod",
        "app.kubernetes.io/component": "gateway",
    }
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "mcpod-system"
    }
    assert ingress["ports"] == [{"protocol": "TCP", "port": v.BRIDGE_PORT}]
    ports = sorted((p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"])
    assert ports == [("TCP", 53), ("TCP", 443), ("UDP", 53)]
    https = next(r for r in spec["egress"] if r["ports"] == [{"protocol": "TCP", "port": 443}])
    assert [p["ipBlock"]["cidr"] for p in https["to"]] == ["0.0.0.0/0", "::/0"]


def test_gateway_pod_labels_match_the_network_policy_peer(render_chart: RenderChart) -> None:
    """A typo in either would cut the gateway off from every connection."""
    objects = render_chart(load_values("full.yaml"))
    gateway = next(o for o in by_kind(objects, "Deployment") if "gateway" in o["metadata"]["name"])
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    [policy] = by_kind(objects, "NetworkPolicy")
    peer = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert peer.items() <= labels.items()


def test_full_values_render_every_option(render_chart: RenderChart) -> None:
    values = merge_values(load_values("full.yaml"), {"connections": {"namespace": "people"}})
    objects = render_chart(values, release="acme")
    assert not [o for o in objects if o["kind"] == "Secret"], "existingSecret: no keys Secret"
    gateway = one(objects, "Deployment", "acme-mcpod-gateway")
    operator = one(objects, "Deployment", "acme-mcpod-operator")
    image = gateway["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com:5000/platform/mcpod/gateway:0.1.0-rc.1"
    genv, oenv = env_of(gateway), env_of(operator)
    assert secret_ref(genv, "MCPOD_ROUTING_KEY") == ("acme-mcpod-keys", "routing")
    assert secret_ref(oenv, "MCPOD_ROUTING_KEY") == ("acme-mcpod-keys", "routing")
    assert secret_ref(genv, "MCPOD_SECRET_KEY") == ("acme-mcpod-keys", "csrf")
    assert secret_ref(genv, "MCPOD_DATABASE_URL") == ("acme-db-app", "asyncpg-url")
    assert genv["MCPOD_NAMESPACE"]["value"] == "people"
    assert genv["MCPOD_TRUSTED_PROXIES"]["value"] == "10.0.0.0/8,192.168.1.1"
    assert genv["MCPOD_SESSION_IDLE_MINUTES"]["value"] == "60"
    assert oenv["MCPOD_NAMESPACE"]["value"] == "people"
    assert oenv["MCPOD_CONNECTION_IMAGE"]["value"] == (
        "registry.example.com:5000/platform/mcpod/connection"
    )
    assert oenv["MCPOD_POD_CPU_LIMIT"]["value"] == "1"
    assert operator["spec"]["replicas"] == 2
    assert gateway["spec"]["replicas"] == 3
    # Rights over connections are granted where the connections live, the Lease at home.
    roles = {(o["metadata"]["name"], o["metadata"]["namespace"]) for o in by_kind(objects, "Role")}
    assert roles == {
        ("acme-mcpod-gateway", "people"),
        ("acme-mcpod-operator", "people"),
        ("acme-mcpod-operator-leader-election", "mcpod-system"),
    }
    ingress = one(objects, "Ingress", "acme-mcpod-gateway")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["mcp.example.com"], "secretName": "mcp-example-com-tls"}
    ]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "mcp.example.com"
    assert [p["path"] for p in rule["http"]["paths"]] == ["/mcp", "/"]
    service = one(objects, "Service", "acme-mcpod-gateway")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0]["port"] == 8443
    policy = one(objects, "NetworkPolicy", "acme-mcpod-connections")
    assert policy["metadata"]["namespace"] == "people"
    pdb = one(objects, "PodDisruptionBudget", "acme-mcpod-gateway")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_sqlite_trial_mounts_a_claim_and_recreates(render_chart: RenderChart) -> None:
    values = merge_values(load_values("sqlite.yaml"), {"database": {"postgresql": {}}})
    objects = render_chart(values)
    gateway = one(objects, "Deployment", "mcpod-gateway")
    assert gateway["spec"]["replicas"] == 1
    assert gateway["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(gateway)
    assert env["MCPOD_DATA_DIR"]["value"] == "/data"
    assert "MCPOD_DATABASE_URL" not in env
    claim = one(objects, "PersistentVolumeClaim", "mcpod-gateway-data")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in gateway["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "mcpod-gateway-data"
    assert not by_kind(objects, "PodDisruptionBudget"), "one replica: no disruption budget"


def test_operator_without_leader_election_recreates_and_gets_no_lease_rights(
    render_chart: RenderChart,
) -> None:
    objects = render_chart({"operator": {"leaderElection": False}})
    operator = one(objects, "Deployment", "mcpod-operator")
    assert operator["spec"]["strategy"] == {"type": "Recreate"}
    assert env_of(operator)["MCPOD_LEADER_ELECTION"]["value"] == "false"
    assert [r["metadata"]["name"] for r in by_kind(objects, "Role")] == [
        "mcpod-gateway",
        "mcpod-operator",
    ]


def test_notes_tell_the_next_steps(helm: Helm) -> None:
    out = helm.run(
        "install",
        "acme",
        str(CHART_DIR),
        "--dry-run=client",
        "-n",
        "team-mcp",
        "-f",
        str(VALUES_DIR / "required.yaml"),
    ).stdout
    notes = out[out.index("NOTES:") :]
    assert "Open the portal: https://mcpod.example.com" in notes
    assert "passkey" in notes
    assert "kubectl -n team-mcp exec deploy/acme-mcpod-gateway -- \\" in notes
    assert "mcpod-gateway admin create-user" in notes
    assert "add a connection" in notes
    assert "claude mcp add --transport http mcpod https://mcpod.example.com/mcp" in notes


@pytest.mark.parametrize("field", ["routingKeyKey", "secretKeyKey", "masterKeyKey"])
def test_existing_keys_secret_key_names_are_used(render_chart: RenderChart, field: str) -> None:
    objects = render_chart({"keys": {"existingSecret": "mine", field: "custom"}})
    gateway = one(objects, "Deployment", "mcpod-gateway")
    refs = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in env_of(gateway).values()
        if "valueFrom" in e and e["valueFrom"].get("secretKeyRef", {}).get("name") == "mine"
    }
    assert "custom" in refs
