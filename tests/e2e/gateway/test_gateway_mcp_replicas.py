"""Any replica serves any request: two gateway processes, one agent alternating between them.

The two processes share the database and keys (as replicas do) and nothing else.
A 2025-11-25 session opened on one is used on the other; a 2026-07-28 agent needs
no session at all.  Both must see every request succeed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fixtures.mcp_gateway import (
    ServedGateway,
    admin_cli,
    sentinel_pat,
    served_gateway_env,
    start_served_gateway,
)
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client


class Alternating(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica in turn (no stickiness at all)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.sent: list[int] = []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.sent) % len(self.ports)]
        self.sent.append(port)
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[list[ServedGateway], str]]:
    env = served_gateway_env(tmp_path)
    user = admin_cli(env, "create-user", "--name", "Ada")
    token = admin_cli(env, "create-token", "--user", user, "--name", "alternating-agent")
    admin_cli(
        env,
        "create-connection",
        "--user",
        user,
        "--slug",
        "work",
        "--org",
        "contoso",
        "--domains",
        "core",
        stdin=sentinel_pat() + "\n",
    )
    served = [start_served_gateway(env, tmp_path / f"gateway-{i}.log") for i in range(2)]
    try:
        yield served, token
    finally:
        for gateway in served:
            gateway.stop()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_one_agent_alternating_between_two_gateway_processes(
    replicas: tuple[list[ServedGateway], str], mode: str
) -> None:
    served, token = replicas
    transport = Alternating([g.port for g in served])
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(transport=transport, headers=headers, timeout=120) as http:
        url = served[0].url
        async with Client(
            streamable_http_client(url, http_client=http), mode=mode, cache=None
        ) as client:
            results: list[Any] = []
            for _ in range(3):
                results.append(await client.call_tool("work__core_list_projects", {}))
                results.append(await client.list_tools())
    calls = [r for r in results if hasattr(r, "is_error")]
    assert all(not r.is_error for r in calls), calls
    assert {json.loads(r.content[0].text)["organization"] for r in calls} == {"contoso"}
    assert set(transport.sent) == {g.port for g in served}  # both replicas answered
