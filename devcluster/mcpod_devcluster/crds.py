"""Installing the project's CRDs into a fresh control plane."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def load_crds(directory: Path = CRD_DIR) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


async def apply_crds(
    api: client.ApiClient, docs: list[dict[str, Any]], limit_s: float = 30
) -> None:
    ext = client.ApiextensionsV1Api(api)
    for doc in docs:
        resp = await ext.patch_custom_resource_definition(
            doc["metadata"]["name"],
            doc,
            field_manager="mcpod-dev-cluster",
            force=True,
            _content_type="application/apply-patch+yaml",
            _preload_content=False,
        )
        resp.release()
    deadline = time.monotonic() + limit_s
    for doc in docs:
        name = doc["metadata"]["name"]
        while True:
            crd = await ext.read_custom_resource_definition(name)
            conditions = crd.status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established after {limit_s}s")
            await asyncio.sleep(0.05)
