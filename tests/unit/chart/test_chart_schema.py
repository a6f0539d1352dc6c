"""values.schema.json (and the chart's own checks) refuse bad values with a message naming them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures.helm import CHART_DIR, REQUIRED_VALUES, Helm, HelmError, merge_values

VALUES_DIR = Path(__file__).parent / "values"

BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    # SQLite is for single-replica trials only.
    (
        {"database": {"type": "sqlite"}, "gateway": {"replicas": 2}},
        "at '/gateway/replicas': maximum: got 2, want 1",
    ),
    # Without leader election two operators would both reconcile.
    (
        {"operator": {"leaderElection": False, "replicas": 2}},
        "at '/operator/replicas': maximum: got 2, want 1",
    ),
    ({"gateway": {"replicas": 0}}, "at '/gateway/replicas': minimum: got 0, want 1"),
    ({"gateway": {"replicas": "two"}}, "at '/gateway/replicas': got string, want integer"),
    ({"gateway": {"publicUrl": "http://mcpod.example.com"}}, "at '/gateway/publicUrl'"),
    ({"gateway": {"publicUrl": "https://mcpod.example.com/mcp"}}, "at '/gateway/publicUrl'"),
    ({"gateway": {"registration": "closed"}}, "at '/gateway/registration'"),
    ({"gateway": {"trustedProxies": ["proxy.example.com"]}}, "at '/gateway/trustedProxies/0'"),
    ({"gateway": {"bogus": 1}}, "at '/gateway': additional properties 'bogus' not allowed"),
    ({"gatway": {"replicas": 1}}, "additional properties 'gatway' not allowed"),
    ({"database": {"type": "mysql"}}, "at '/database/type': value must be one of"),
    ({"database": {"postgresql": {"existingSecret": "Bad_Name"}}}, "existingSecret"),
    ({"operator": {"idleTimeout": "10min"}}, "at '/operator/idleTimeout'"),
    ({"operator": {"serverVersion": "latest"}}, "at '/operator/serverVersion'"),
    ({"operator": {"connectionImage": "mcpod/connection:2.10.0"}}, "connectionImage"),
    ({"operator": {"workers": 0}}, "at '/operator/workers': minimum: got 0, want 1"),
    ({"operator": {"logLevel": "verbose"}}, "at '/operator/logLevel'"),
    ({"operator": {"connectionResources": {"memoryLimit": "lots"}}}, "memoryLimit"),
    ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
    ({"image": {"tag": "has space"}}, "at '/image/tag'"),
    ({"connections": {"namespace": "Not_A_Namespace"}}, "at '/connections/namespace'"),
    ({"keys": {"routingKeyKey": "bad/key"}}, "at '/keys/routingKeyKey'"),
    ({"ingress": {"enabled": True}}, "at '/ingress/host': minLength: got 0, want 1"),
    (
        {"ingress": {"enabled": True, "host": "mcpod.example.com"}},
        "at '/ingress/tls/secretName': minLength: got 0, want 1",
    ),
    ({"networkPolicy": {"httpsCidrs": ["everywhere"]}}, "at '/networkPolicy/httpsCidrs/0'"),
    ({"networkPolicy": {"httpsCidrs": []}}, "at '/networkPolicy/httpsCidrs'"),
    ({"gateway": {"extraEnv": [{"value": "x"}]}}, "missing property 'name'"),
]


@pytest.mark.parametrize(
    ("override", "message"), BAD_VALUES, ids=[json.dumps(v) for v, _ in BAD_VALUES]
)
def test_schema_rejects_bad_values(helm: Helm, override: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError) as failure:
        helm.template(merge_values(REQUIRED_VALUES, override))
    assert message in failure.value.stderr
    assert "values don't meet the specifications of the schema" in failure.value.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"gateway": {"publicUrl": ""}},
            "gateway.publicUrl is required: the https:// origin people and agents use",
        ),
        (
            {"database": {"postgresql": {"existingSecret": ""}}},
            "database.postgresql.existingSecret is required: the name of a Secret holding the "
            "PostgreSQL URL",
        ),
        (
            {"ingress": {"enabled": True, "host": "other.example.com", "tls": {"secretName": "t"}}},
            "ingress.host (other.example.com) must be the host of gateway.publicUrl "
            "(mcpod.example.com)",
        ),
    ],
)
def test_chart_refuses_incomplete_installs_with_plain_messages(
    helm: Helm, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmError) as failure:
        helm.template(merge_values(REQUIRED_VALUES, override))
    assert message in failure.value.stderr


def test_bare_defaults_name_the_first_missing_value(helm: Helm) -> None:
    with pytest.raises(HelmError) as failure:
        helm.template({})
    assert "gateway.publicUrl is required" in failure.value.stderr


@pytest.mark.parametrize(
    "override",
    [
        {"gateway": {"publicUrl": "http://localhost:8000"}},
        {"gateway": {"publicUrl": "https://mcpod.example.com:8443"}},
        {"operator": {"leaderElection": False, "replicas": 1}},
        {"operator": {"replicas": 0}},
        {"gateway": {"podDisruptionBudget": {"maxUnavailable": "50%"}}},
        {"ingress": {"enabled": True, "host": "mcpod.example.com", "tls": {"enabled": False}}},
    ],
    ids=lambda o: json.dumps(o),
)
def test_schema_accepts_good_edge_values(helm: Helm, override: dict[str, Any]) -> None:
    helm.template(merge_values(REQUIRED_VALUES, override))


def test_every_default_value_is_described_by_the_schema() -> None:
    """A values.yaml key without a schema entry would be refused by additionalProperties."""
    import yaml

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict) or "properties" not in node:
            return
        for key, sub in value.items():
            assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
            walk(sub, node["properties"][key], f"{path}.{key}")

    walk(defaults, schema, "")


def test_every_value_has_a_comment() -> None:
    """values.yaml is documented field by field: each leaf key has a comment above it, or sits
    in a documented map (e.g. the requests and limits under a documented `resources`)."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()

    def documented(i: int) -> bool:
        return i > 0 and lines[i - 1].strip().startswith("#")

    def parent(i: int) -> int | None:
        indent = len(lines[i]) - len(lines[i].lstrip())
        for j in range(i - 1, -1, -1):
            text = lines[j]
            is_key = text.strip() and not text.strip().startswith("#")
            if is_key and len(text) - len(text.lstrip()) < indent:
                return j
        return None

    undocumented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        key, _, rest = stripped.partition(":")
        if rest.strip() == "":
            continue  # a section: its leaves are checked
        up = parent(i)
        if not documented(i) and not (up is not None and documented(up)):
            undocumented.append(key)
    assert undocumented == []
