"""Kubeconfig documents for the development control plane (pure builders)."""

from __future__ import annotations

import base64
from typing import Any


def build_kubeconfig(
    *, server: str, ca_pem: bytes, token: str, user: str = "admin", namespace: str = "default"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mcpod-dev",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "mcpod-dev",
                "context": {"cluster": "mcpod-dev", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "mcpod-dev",
    }
