"""The bridge in front of the real `@azure-devops/mcp` 2.10.0 (installed by scripts/setup.sh).

Azure DevOps itself is unreachable here, so tool calls fail inside the upstream (as `isError`
results); everything up to that point - startup, catalogue, filtering, both protocols - is real.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from bridge_runner import BRIDGE_TOKEN, PAT_SENTINEL, BridgeFactory
from mcp.shared.exceptions import MCPError
from mcpod_common.tool_filter import READ_ONLY_TOOLS, WRITE_ACTIONS, WRITE_ARGUMENTS

pytestmark = pytest.mark.realupstream

MODERN = "2026-07-28"


@pytest.mark.parametrize(
    ("domains", "count"),
    [("", 40), ("core work work-items", 13)],
)
@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_real_catalogue_through_the_bridge(
    bridges: BridgeFactory, real_upstream: Path, domains: str, count: int, mode: str
) -> None:
    bridge = bridges.start(upstream="real", MCPOD_DOMAINS=domains)
    async with bridge.client(mode) as client:
        listed = await client.list_tools()
        if mode == "legacy":
            info = client.server_info
            assert info is not None
            identity = (info.name, info.version)
        else:
            # A pinned 2026-07-28 client skips discovery; each result carries the stamp.
            assert listed.meta is not None
            stamp = listed.meta["io.modelcontextprotocol/serverInfo"]
            identity = (stamp["name"], stamp["version"])
    assert identity == ("Azure DevOps MCP Server", "2.10.0")
    tools = listed.tools
    assert len(tools) == count
    assert len({t.name for t in tools}) == count


async def test_read_only_list_matches_the_real_catalogue(
    bridges: BridgeFactory, real_upstream: Path
) -> None:
    everything = bridges.start(upstream="real")
    async with everything.client(MODERN) as client:
        catalogue = {t.name: t for t in (await client.list_tools()).tools}
    # Every name we classify exists upstream: a rename on upgrade fails here, not silently.
    assert catalogue.keys() >= READ_ONLY_TOOLS
    assert set(WRITE_ACTIONS) | set(WRITE_ARGUMENTS) <= READ_ONLY_TOOLS
    for tool, actions in WRITE_ACTIONS.items():
        assert actions <= set(catalogue[tool].input_schema["properties"]["action"]["enum"])
    for tool, args in WRITE_ARGUMENTS.items():
        assert args <= set(catalogue[tool].input_schema["properties"])
    # And every tool left out of the read-only set really writes (by the upstream's naming).
    writers = set(catalogue) - READ_ONLY_TOOLS
    assert writers
    for name in writers:
        assert name.endswith("_write") or name in {"repo_create_branch", "wiki_upsert_page"}

    read_only = bridges.start(upstream="real", MCPOD_READ_ONLY="true")
    async with read_only.client("legacy") as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == READ_ONLY_TOOLS
        assert "reorder" not in listed["wit_backlog"].input_schema["properties"]["action"]["enum"]
        assert (
            "download"
            not in listed["pipelines_artifact"].input_schema["properties"]["action"]["enum"]
        )
        with pytest.raises(MCPError, match="read-only"):
            await client.call_tool("wit_work_item_write", {"action": "create", "project": "p"})
        with pytest.raises(MCPError, match="read-only"):
            await client.call_tool("wit_backlog", {"action": "reorder", "project": "p"})


async def test_real_tool_call_fails_inside_without_leaking_the_pat(
    bridges: BridgeFactory, real_upstream: Path
) -> None:
    bridge = bridges.start(upstream="real", MCPOD_DOMAINS="core", MCPOD_CALL_TIMEOUT="60s")
    async with bridge.client(MODERN) as client:
        result = await client.call_tool("core_list_projects", {})
    # No route to Azure DevOps here: the upstream reports its failure as a tool error.
    assert result.is_error
    text = result.model_dump_json()
    encoded = base64.b64encode(f":{PAT_SENTINEL}".encode()).decode()
    assert PAT_SENTINEL not in text
    assert encoded not in text
    assert bridge.stop() == 0
    log = bridge.log()
    for secret in (PAT_SENTINEL, encoded, BRIDGE_TOKEN):
        assert secret not in log


def test_real_upstream_argv_and_env(bridges: BridgeFactory, real_upstream: Path) -> None:
    bridge = bridges.start(upstream="real", MCPOD_DOMAINS="wiki", MCPOD_DEFAULT_TEAM="Team A")
    pid = bridge.upstream_pid()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert argv[0].endswith(b"node")
    assert argv[1] == str(real_upstream).encode()
    assert argv[2:] == [b"contoso", b"-a", b"pat", b"-t", b"mcpod-pat", b"-d", b"wiki"]
    env = dict(
        item.decode().split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if item
    )
    assert env["ado_mcp_team"] == "Team A"
    assert "ado_mcp_project" not in env
    assert json.dumps(env).find(PAT_SENTINEL) == -1
