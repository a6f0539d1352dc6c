"""The pod and bridge-token Secret builders: the contract, parametrized over the spec fields."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcpod_common import vocabulary as v
from mcpod_common.bridge_token import derive_bridge_token
from mcpod_operator.connection import parse_connection
from mcpod_operator.pod import (
    ANNOTATION_CONFIG_HASH,
    BRIDGE_TOKEN_KEY,
    bridge_token_secret_name,
    build_bridge_token_secret,
    build_connection_pod,
)
from mcpod_operator.settings import Settings
from operator_factories import BodyFactory


def _env(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}


def _pod(connection_body: BodyFactory, settings: Settings, **spec: Any) -> dict[str, Any]:
    return build_connection_pod(parse_connection(connection_body(**spec)), settings)


def test_labels_owner_reference_and_name(connection_body: BodyFactory, settings: Settings) -> None:
    pod = _pod(connection_body, settings)
    meta = pod["metadata"]
    assert meta["labels"] == {
        v.LABEL_APP_NAME: v.APP_NAME_CONNECTION,
        v.LABEL_MANAGED_BY: v.MANAGED_BY_OPERATOR,
        v.LABEL_OWNER: "u-alice",
        v.LABEL_CONNECTION: "c-1",
    }
    assert meta["namespace"] == "ns"
    assert meta["name"].startswith("c-1-")
    assert meta["name"] == f"c-1-{meta['annotations'][ANNOTATION_CONFIG_HASH][:10]}"
    (ref,) = meta["ownerReferences"]
    assert ref == {
        "apiVersion": v.API_VERSION,
        "kind": v.KIND,
        "name": "c-1",
        "uid": "0b5c9a2e-1111-2222-3333-444455556666",
        "controller": True,
    }


def test_secrets_only_by_reference(connection_body: BodyFactory, settings: Settings) -> None:
    pod = _pod(connection_body, settings)
    env = _env(pod)
    assert env["MCPOD_PAT"] == {
        "name": "MCPOD_PAT",
        "valueFrom": {"secretKeyRef": {"name": "alice-pat", "key": v.SECRET_KEY_PAT}},
    }
    token_ref = env["MCPOD_BRIDGE_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token_ref == {
        "name": bridge_token_secret_name(parse_connection(connection_body()), settings),
        "key": BRIDGE_TOKEN_KEY,
    }
    assert token_ref["name"].startswith("c-1-bridge-")
    # No literal token anywhere in the pod.
    token = derive_bridge_token(settings.routing_key, "0b5c9a2e-1111-2222-3333-444455556666")
    assert token not in json.dumps(pod)


def test_restricted_security(connection_body: BodyFactory, settings: Settings) -> None:
    pod = _pod(connection_body, settings)
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert spec["terminationGracePeriodSeconds"] <= 30
    assert "command" not in container  # the image's entrypoint is mcpod-bridge
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": v.BRIDGE_PORT}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": v.BRIDGE_PORT}
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "256Mi"}}]
    env = _env(pod)
    assert env["MCPOD_SCRATCH_DIR"]["value"] == env["HOME"]["value"] == "/scratch"
    assert container["volumeMounts"] == [{"name": "scratch", "mountPath": "/scratch"}]
    assert env["MCPOD_LISTEN"]["value"] == "0.0.0.0:8080"


@pytest.mark.parametrize(
    ("spec", "expected", "absent"),
    [
        ({}, {"MCPOD_ORGANIZATION": "contoso", "MCPOD_READ_ONLY": "false"}, ["MCPOD_DOMAINS"]),
        ({"readOnly": True}, {"MCPOD_READ_ONLY": "true"}, []),
        ({"domains": ["core", "work-items"]}, {"MCPOD_DOMAINS": "core work-items"}, []),
        (
            {"tools": {"allow": ["wit_*", "core_list_projects"]}},
            {"MCPOD_TOOLS_ALLOW": "wit_*,core_list_projects"},
            ["MCPOD_TOOLS_DENY"],
        ),
        ({"tools": {"deny": ["*_write"]}}, {"MCPOD_TOOLS_DENY": "*_write"}, ["MCPOD_TOOLS_ALLOW"]),
        (
            {"defaults": {"project": "Fabrikam Web", "team": "Web Team"}},
            {"MCPOD_DEFAULT_PROJECT": "Fabrikam Web", "MCPOD_DEFAULT_TEAM": "Web Team"},
            [],
        ),
        ({}, {}, ["MCPOD_DEFAULT_PROJECT", "MCPOD_DEFAULT_TEAM", "MCPOD_TOOLS_ALLOW"]),
    ],
)
def test_env_from_spec(
    connection_body: BodyFactory,
    settings: Settings,
    spec: dict[str, Any],
    expected: dict[str, str],
    absent: list[str],
) -> None:
    env = _env(_pod(connection_body, settings, **spec))
    for name, value in expected.items():
        assert env[name]["value"] == value
    for name in absent:
        assert name not in env


@pytest.mark.parametrize(
    ("pin", "image"),
    [(None, "mcpod/connection:2.10.0"), ("2.9.0", "mcpod/connection:2.9.0")],
)
def test_image_tag_is_the_server_version(
    connection_body: BodyFactory, settings: Settings, pin: str | None, image: str
) -> None:
    pod = _pod(connection_body, settings, serverVersion=pin)
    assert pod["spec"]["containers"][0]["image"] == image


@pytest.mark.parametrize(
    "change",
    [
        {"organization": "fabrikam"},
        {"domains": ["core"]},
        {"readOnly": True},
        {"tools": {"allow": ["wit_*"]}},
        {"tools": {"deny": ["wit_*"]}},
        {"serverVersion": "2.9.0"},
        {"defaults": {"project": "P"}},
        {"credentials": {"secretRef": {"name": "other-pat"}}},
    ],
)
def test_a_config_change_is_a_new_pod_name(
    connection_body: BodyFactory, settings: Settings, change: dict[str, Any]
) -> None:
    before = _pod(connection_body, settings)["metadata"]["name"]
    after = _pod(connection_body, settings, **change)["metadata"]["name"]
    assert before != after


@pytest.mark.parametrize(
    "same",
    [{"suspended": False}, {"idleTimeout": "1h"}, {"slug": "other"}],
)
def test_unrelated_fields_keep_the_pod(
    connection_body: BodyFactory, settings: Settings, same: dict[str, Any]
) -> None:
    assert (
        _pod(connection_body, settings)["metadata"]["name"]
        == _pod(connection_body, settings, **same)["metadata"]["name"]
    )


def test_credentials_rotation_stamp_recycles(
    connection_body: BodyFactory, settings: Settings
) -> None:
    plain = build_connection_pod(parse_connection(connection_body()), settings)
    rotated_body = connection_body(
        annotations={v.ANNOTATION_CREDENTIALS_ROTATED: "2026-01-02T00:00:00Z"}
    )
    rotated = build_connection_pod(parse_connection(rotated_body), settings)
    assert plain["metadata"]["name"] != rotated["metadata"]["name"]
    assert plain["spec"] == rotated["spec"]


def test_last_activity_does_not_recycle(connection_body: BodyFactory, settings: Settings) -> None:
    a = build_connection_pod(parse_connection(connection_body()), settings)
    woken = connection_body(annotations={v.ANNOTATION_LAST_ACTIVITY: "2026-01-01T12:05:00Z"})
    b = build_connection_pod(parse_connection(woken), settings)
    assert a == b


def test_operator_default_version_change_recycles(
    connection_body: BodyFactory, settings: Settings
) -> None:
    import dataclasses

    newer = dataclasses.replace(settings, server_version="2.11.0")
    connection = parse_connection(connection_body())
    assert (
        build_connection_pod(connection, settings)["metadata"]["name"]
        != build_connection_pod(connection, newer)["metadata"]["name"]
    )


def test_resources(connection_body: BodyFactory, settings: Settings) -> None:
    resources = _pod(connection_body, settings)["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "50m", "memory": "192Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_bridge_token_secret(connection_body: BodyFactory, settings: Settings) -> None:
    connection = parse_connection(connection_body())
    secret = build_bridge_token_secret(connection, settings)
    assert secret["metadata"]["name"] == bridge_token_secret_name(connection, settings)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == connection.uid
    assert secret["metadata"]["labels"][v.LABEL_CONNECTION] == "c-1"
    assert secret["immutable"] is True
    token = base64.b64decode(secret["data"][BRIDGE_TOKEN_KEY]).decode()
    # The gateway recomputes the same value from the UID alone.
    assert token == derive_bridge_token(settings.routing_key, connection.uid)


def test_a_recreated_connection_gets_new_children(
    connection_body: BodyFactory, settings: Settings
) -> None:
    """Same name, new UID: neither the old pod nor the old token Secret may be adopted."""
    old = parse_connection(connection_body())
    body = connection_body()
    body["metadata"]["uid"] = "another-uid"
    new = parse_connection(body)
    assert (
        build_connection_pod(old, settings)["metadata"]["name"]
        != build_connection_pod(new, settings)["metadata"]["name"]
    )
    assert bridge_token_secret_name(old, settings) != bridge_token_secret_name(new, settings)


def test_a_new_routing_key_is_a_new_secret_and_pod(
    connection_body: BodyFactory, settings: Settings
) -> None:
    import dataclasses

    rotated = dataclasses.replace(settings, routing_key=b"n" * 32)
    connection = parse_connection(connection_body())
    assert bridge_token_secret_name(connection, settings) != bridge_token_secret_name(
        connection, rotated
    )
    assert (
        build_connection_pod(connection, settings)["metadata"]["name"]
        != build_connection_pod(connection, rotated)["metadata"]["name"]
    )
