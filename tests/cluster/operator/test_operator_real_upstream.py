"""The operator's pod runs the real @azure-devops/mcp, reached with the gateway's bridge token."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcpod_common import vocabulary as v
from mcpod_operator import conditions as c
from operator_harness import PAT_SENTINEL, Cluster, bridge_client

UPSTREAM = Path.home() / ".cache" / "mcpod" / "upstream" / "node_modules" / "@azure-devops" / "mcp"

pytestmark = pytest.mark.realupstream


async def test_real_upstream_pod_answers_through_the_bridge(cluster: Cluster) -> None:
    if not (UPSTREAM / "dist" / "index.js").is_file():
        pytest.skip(f"the real upstream is not installed at {UPSTREAM} (run scripts/setup.sh)")
    operator = cluster.start_operator()
    # No serverVersion pin: the operator's default (2.10.0) selects the real connection image.
    await cluster.create_connection(
        "c-real", serverVersion=None, domains=["core", "work-items"], readOnly=True
    )
    body = await cluster.wait_phase("c-real", c.PHASE_READY, within=120)
    assert body["status"]["serverVersion"] == "2.10.0"
    (pod,) = await cluster.pods("c-real")
    assert pod["spec"]["containers"][0]["image"] == f"{v.IMAGE_CONNECTION}:2.10.0"

    async with bridge_client(pod, body["metadata"]["uid"]) as client:
        listed = await client.list_tools()
    names = {t.name for t in listed.tools}
    assert "core_list_projects" in names
    assert "wit_work_item" in names
    # Read-only: the bridge hides the upstream's write tools.
    assert not [n for n in names if n.endswith("_write")]
    assert PAT_SENTINEL not in operator.log()
