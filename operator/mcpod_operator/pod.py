"""Pure builders for a connection's children: its pod and its bridge-token Secret.

Nothing here talks to the API. The PAT appears only as a ``secretKeyRef``: the operator never has
it, and the builders take no argument that could carry it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Final

from mcpod_common.bridge_token import derive_bridge_token
from mcpod_common.vocabulary import (
    API_VERSION,
    APP_NAME_CONNECTION,
    BRIDGE_PORT,
    GROUP,
    KIND,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_MANAGED_BY,
    LABEL_OWNER,
    MANAGED_BY_OPERATOR,
    SECRET_KEY_PAT,
)

from mcpod_operator.connection import Connection
from mcpod_operator.settings import Settings

# The hash of everything that shapes the pod; a pod whose hash differs is replaced.
ANNOTATION_CONFIG_HASH: Final = f"{GROUP}/config-hash"
# The bridge-token Secret's key.
BRIDGE_TOKEN_KEY: Final = "token"  # noqa: S105 (a key name, not a secret)
CONTAINER_NAME: Final = "bridge"
SCRATCH_VOLUME: Final = "scratch"
SCRATCH_DIR: Final = "/scratch"
# The bridge exits on SIGTERM within milliseconds; a short grace keeps recycling and
# scale-to-zero quick without cutting off a call that is being answered.
TERMINATION_GRACE_SECONDS: Final = 10
# A fixed non-root user: the connection image is built to run as it.
RUN_AS_USER: Final = 10001
_HASH_LENGTH: Final = 10


def connection_labels(connection: Connection) -> dict[str, str]:
    """The labels the gateway selects on (contract): owner and connection are checked per call."""
    return {
        LABEL_APP_NAME: APP_NAME_CONNECTION,
        LABEL_MANAGED_BY: MANAGED_BY_OPERATOR,
        LABEL_OWNER: connection.owner,
        LABEL_CONNECTION: connection.name,
    }


def owner_reference(connection: Connection) -> dict[str, Any]:
    # No blockOwnerDeletion: setting it needs update rights on the owner's finalizers, and
    # background garbage collection removes the children without it.
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": connection.name,
        "uid": connection.uid,
        "controller": True,
    }


def effective_server_version(connection: Connection, settings: Settings) -> str:
    return connection.server_version or settings.server_version


def bridge_token_secret_name(connection: Connection, settings: Settings) -> str:
    """Named after the routing key's fingerprint and the connection's UID.

    The operator may only create Secrets, never update them: a new routing key therefore means
    a fresh Secret (and pod), and the old one goes with the connection. The UID keeps a
    connection deleted and re-created under the same name from picking up the previous one's
    Secret (and token) before the garbage collector has removed it.
    """
    suffix = hashlib.sha256(f"{settings.routing_key_id}/{connection.uid}".encode()).hexdigest()
    return f"{connection.name}-bridge-{suffix[:_HASH_LENGTH]}"


def build_bridge_token_secret(connection: Connection, settings: Settings) -> dict[str, Any]:
    token = derive_bridge_token(settings.routing_key, connection.uid)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": bridge_token_secret_name(connection, settings),
            "namespace": connection.namespace,
            "labels": connection_labels(connection),
            "ownerReferences": [owner_reference(connection)],
        },
        "data": {BRIDGE_TOKEN_KEY: base64.b64encode(token.encode()).decode()},
    }


def _env(connection: Connection, settings: Settings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "MCPOD_ORGANIZATION", "value": connection.organization},
        {"name": "MCPOD_READ_ONLY", "value": "true" if connection.read_only else "false"},
    ]
    # Empty lists are left out: the bridge reads "unset" as "all domains" / "no filter".
    if connection.domains:
        env.append({"name": "MCPOD_DOMAINS", "value": " ".join(connection.domains)})
    if connection.tools_allow:
        env.append({"name": "MCPOD_TOOLS_ALLOW", "value": ",".join(connection.tools_allow)})
    if connection.tools_deny:
        env.append({"name": "MCPOD_TOOLS_DENY", "value": ",".join(connection.tools_deny)})
    if connection.default_project:
        env.append({"name": "MCPOD_DEFAULT_PROJECT", "value": connection.default_project})
    if connection.default_team:
        env.append({"name": "MCPOD_DEFAULT_TEAM", "value": connection.default_team})
    env += [
        {
            "name": "MCPOD_PAT",
            "valueFrom": {"secretKeyRef": {"name": connection.secret_name, "key": SECRET_KEY_PAT}},
        },
        {
            "name": "MCPOD_BRIDGE_TOKEN",
            "valueFrom": {
                "secretKeyRef": {
                    "name": bridge_token_secret_name(connection, settings),
                    "key": BRIDGE_TOKEN_KEY,
                }
            },
        },
        {"name": "MCPOD_LISTEN", "value": f"0.0.0.0:{BRIDGE_PORT}"},
        {"name": "MCPOD_SCRATCH_DIR", "value": SCRATCH_DIR},
        # The root filesystem is read-only: the upstream's cache and temp files go to scratch.
        {"name": "HOME", "value": SCRATCH_DIR},
        {"name": "TMPDIR", "value": SCRATCH_DIR},
    ]
    return env


def _resources(settings: Settings) -> dict[str, Any]:
    r = settings.resources
    requests = {k: v for k, v in (("cpu", r.cpu_request), ("memory", r.memory_request)) if v}
    limits = {k: v for k, v in (("cpu", r.cpu_limit), ("memory", r.memory_limit)) if v}
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _pod_spec(connection: Connection, settings: Settings) -> dict[str, Any]:
    image = f"{settings.connection_image}:{effective_server_version(connection, settings)}"
    return {
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        # The bridge needs no Kubernetes API access and no service discovery.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER_NAME,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": BRIDGE_PORT, "protocol": "TCP"}],
                "env": _env(connection, settings),
                # Probed every second (the kubelet's minimum): a woken connection's caller is
                # waiting for Ready, so the probe period is part of the wake latency.
                "readinessProbe": {
                    "httpGet": {"path": "/readyz", "port": BRIDGE_PORT},
                    "periodSeconds": 1,
                    "failureThreshold": 3,
                    "timeoutSeconds": 2,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": BRIDGE_PORT},
                    "initialDelaySeconds": 10,
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                    "timeoutSeconds": 5,
                },
                "resources": _resources(settings),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "privileged": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR}],
            }
        ],
        "volumes": [{"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}],
    }


def config_hash(connection: Connection, spec: dict[str, Any]) -> str:
    """Hash of the pod spec, the PAT-rotation stamp (the operator cannot see the PAT change) and
    the connection's UID."""
    material = json.dumps(
        # The UID: a re-created connection of the same name never adopts its predecessor's pod.
        {"spec": spec, "credentialsRotated": connection.credentials_rotated, "uid": connection.uid},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()


def build_connection_pod(connection: Connection, settings: Settings) -> dict[str, Any]:
    """The pod for a connection; its name ends in the config hash, so a changed config is a
    different pod (never an in-place edit, which Kubernetes forbids for env and image anyway)."""
    spec = _pod_spec(connection, settings)
    digest = config_hash(connection, spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{connection.name}-{digest[:_HASH_LENGTH]}",
            "namespace": connection.namespace,
            "labels": connection_labels(connection),
            "annotations": {ANNOTATION_CONFIG_HASH: digest},
            "ownerReferences": [owner_reference(connection)],
        },
        "spec": spec,
    }
