"""End to end on the embedded default: MCP SDK agent → gateway /mcp → local bridge → fake upstream.

Covers both protocol generations, the tool catalogue cache (no wake on tools/list),
wake after idle reaping, crash restart, read-only/deny enforcement in the gateway,
the audit, the HTTP-level bad inputs, and that the PAT never leaks.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.mcp_gateway import GatewayUnderTest, agent, modern_request, sentinel_pat
from mcp.shared.exceptions import MCPError
from mcpod_gateway.models import LocalConnection, ToolCall
from sqlalchemy import event
from sqlmodel import select
from support.polling import eventually

MODES = ["legacy", "auto", "2026-07-28"]


async def _audit_rows(gw: GatewayUnderTest, user_id: str) -> list[ToolCall]:
    await gw.app.state.mcp.audit.flush()
    async with gw.app.state.sessionmaker() as db:
        rows = await db.exec(select(ToolCall).where(ToolCall.user_id == user_id))
        return list(rows)


def _payload(result: Any) -> dict[str, Any]:
    return dict(json.loads(result.content[0].text))


@pytest.mark.parametrize("mode", MODES)
async def test_agent_lists_and_calls_in_each_protocol_mode(
    local_gateway: GatewayUnderTest, mode: str
) -> None:
    gw = local_gateway
    user, token = await gw.user_with_token("ada")
    view = await gw.create_connection(user, "work", "contoso", sentinel_pat(), domains=["core"])
    async with agent(gw.url, token, mode) as client:
        expected_version = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected_version
        # Never run yet: no catalogue, so a marker instead of tools, and nothing started.
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == ["list_connections", "work__connection_unavailable"]
        assert gw.backend.bridge_pid(view.name) is None
        # The first call wakes the connection and is answered by its own organization.
        result = await client.call_tool("work__core_list_projects", {})
        assert not result.is_error, result
        assert _payload(result)["organization"] == "contoso"
        assert gw.backend.bridge_pid(view.name) is not None
        names = [t.name for t in (await client.list_tools()).tools]
        assert "work__core_list_projects" in names
        assert all(n == "list_connections" or n.startswith("work__") for n in names)
        listed = await client.call_tool("list_connections", {})
        connections = json.loads(listed.content[0].text)["connections"]
        assert [c["connection"] for c in connections] == ["work"]


async def test_tools_list_is_answered_from_the_catalogue_without_waking(
    local_gateway: GatewayUnderTest,
) -> None:
    gw = local_gateway
    user, token = await gw.user_with_token()
    view = await gw.create_connection(user, "work", "contoso", sentinel_pat())
    async with agent(gw.url, token, "auto") as client:
        await client.call_tool("work__core_list_projects", {})
        await eventually(lambda: _has_catalogue(gw, view.uid), what="catalogue stored", within=30)
        await gw.backend.scale_to_zero(view)
        assert gw.backend.bridge_pid(view.name) is None
        names = [t.name for t in (await client.list_tools()).tools]
        assert "work__core_list_projects" in names
        assert "work__connection_unavailable" not in names
        assert gw.backend.bridge_pid(view.name) is None  # still asleep
        # ...and the next call wakes it again.
        result = await client.call_tool("work__core_list_projects", {})
        assert _payload(result)["organization"] == "contoso"


async def _has_catalogue(gw: GatewayUnderTest, uid: str) -> bool:
    from mcpod_gateway.models import ToolCatalogue

    async with gw.app.state.sessionmaker() as db:
        return await db.get(ToolCatalogue, uid) is not None


async def test_idle_bridge_is_reaped_then_woken_by_the_next_call(
    local_gateway: GatewayUnderTest,
) -> None:
    gw = local_gateway
    user, token = await gw.user_with_token()
    view = await gw.create_connection(user, "work", "contoso", sentinel_pat())
    async with gw.app.state.sessionmaker() as db:
        row = await db.get(LocalConnection, view.name)
        assert row is not None
        row.idle_timeout_seconds = 2  # below what people may choose, to keep the test short
        db.add(row)
        await db.commit()
    async with agent(gw.url, token, "auto") as client:
        await client.call_tool("work__core_list_projects", {})
        first = gw.backend.bridge_pid(view.name)
        assert first is not None

        async def reaped() -> bool:
            return gw.backend.bridge_pid(view.name) is None

        await eventually(reaped, what="idle bridge stopped", within=30)
        result = await client.call_tool("work__core_list_projects", {})
        assert _payload(result)["organization"] == "contoso"
        assert gw.backend.bridge_pid(view.name) not in (None, first)


async def test_read_only_and_deny_are_enforced_by_the_gateway(
    local_gateway: GatewayUnderTest,
) -> None:
    gw = local_gateway
    user, token = await gw.user_with_token()
    await gw.create_connection(
        user,
        "ro",
        "contoso",
        sentinel_pat(),
        domains=["core", "work", "wiki"],
        read_only=True,
        tools_deny="core_get_identity_ids",
    )
    async with agent(gw.url, token, "auto") as client:
        await client.call_tool("ro__core_list_projects", {})
        names = await eventually(lambda: _tool_names(client), what="tools listed")
        assert "ro__core_list_projects" in names
        assert "ro__work_iteration_write" not in names
        assert "ro__wiki_upsert_page" not in names
        assert "ro__core_get_identity_ids" not in names
        for tool in ("ro__work_iteration_write", "ro__core_get_identity_ids"):
            refused = await client.call_tool(tool, {})
            assert refused.is_error
            assert "refused" in refused.content[0].text
    rows = await _audit_rows(gw, user)
    assert {r.outcome for r in rows if r.tool.endswith("_write")} == {"denied"}


async def _tool_names(client: Any) -> list[str] | None:
    names = [t.name for t in (await client.list_tools()).tools]
    return names if any(not n.endswith("connection_unavailable") for n in names[1:]) else None


async def test_audit_records_each_call_without_arguments(local_gateway: GatewayUnderTest) -> None:
    gw = local_gateway
    user, token = await gw.user_with_token()
    await gw.create_connection(user, "work", "contoso", sentinel_pat(), domains=["core"])
    argument = "argSENTINELq8w7e6"
    async with agent(gw.url, token, "legacy") as client:
        await client.call_tool("work__core_list_project_teams", {"project": argument})
        await client.call_tool("work__nope", {})
        with pytest.raises(MCPError, match="Unknown tool: nobody__core_list_projects"):
            await client.call_tool("nobody__core_list_projects", {})
    rows = await _audit_rows(gw, user)
    by_tool = {r.tool: r for r in rows}
    ok = by_tool["work__core_list_project_teams"]
    assert ok.connection == "work"
    assert ok.outcome == "ok"
    assert ok.client_name == "agent"  # the API token's name
    assert ok.token_kind == "api_token"
    assert ok.duration_ms >= 0
    assert by_tool["work__nope"].outcome in ("tool_error", "upstream_error")
    assert by_tool["nobody__core_list_projects"].outcome == "not_found"
    assert by_tool["nobody__core_list_projects"].connection == ""
    dump = Path(gw.settings.data_dir / "gateway.db").read_bytes()
    assert argument.encode() not in dump


async def test_the_pat_never_leaves_the_bridge_environment(
    local_gateway: GatewayUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    gw = local_gateway
    pat = sentinel_pat("leak")
    user, token = await gw.user_with_token()
    view = await gw.create_connection(user, "work", "contoso", pat)
    seen: list[str] = []
    async with agent(gw.url, token, "auto") as client:
        for tool in ("work__core_list_projects", "list_connections", "work__nope"):
            result = await client.call_tool(tool, {})
            seen.append(result.model_dump_json())
        seen.append((await client.list_tools()).model_dump_json())
    pid = gw.backend.bridge_pid(view.name)
    assert pid is not None
    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert pat.encode() in environ  # it is really there, so the negative checks mean something
    assert pat.encode() not in argv
    assert all(pat not in text for text in seen)
    assert pat not in caplog.text
    for path in Path(gw.settings.data_dir).rglob("*"):
        if path.is_file():
            assert pat.encode() not in path.read_bytes(), path


async def test_http_level_bad_inputs(local_gateway: GatewayUnderTest) -> None:
    gw = local_gateway
    _user, token = await gw.user_with_token()
    _other, other_token = await gw.user_with_token("eve")
    auth = {"authorization": f"Bearer {token}"}
    body, headers = modern_request("tools/list")
    async with httpx.AsyncClient(timeout=30) as http:
        missing = await http.post(gw.url, json=body, headers=headers)
        assert missing.status_code == 401
        assert 'resource_metadata="' in missing.headers["www-authenticate"]
        assert "error=" not in missing.headers["www-authenticate"]
        bogus = await http.post(
            gw.url, json=body, headers={**headers, "authorization": "Bearer mcpod_at_nope"}
        )
        assert bogus.status_code == 401
        assert 'error="invalid_token"' in bogus.headers["www-authenticate"]
        in_query = await http.post(f"{gw.url}?access_token={token}", json=body, headers=headers)
        assert in_query.status_code == 401
        evil = await http.post(
            gw.url, json=body, headers={**headers, **auth, "origin": "https://evil.example"}
        )
        assert evil.status_code == 403
        ours = await http.post(
            gw.url, json=body, headers={**headers, **auth, "origin": "http://localhost:8000"}
        )
        assert ours.status_code == 200
        # /mcp is served ahead of the middleware stack, with the same security headers.
        for reply in (missing, evil, ours):
            assert reply.headers["x-content-type-options"] == "nosniff"
            assert reply.headers["content-security-policy"].startswith("default-src 'none'")
        for method in ("PUT", "PATCH", "OPTIONS"):
            other = await http.request(method, gw.url, headers=auth)
            assert other.status_code == 405
            assert other.headers["allow"] == "POST, DELETE"
            assert other.headers["x-content-type-options"] == "nosniff"
        big = await http.post(gw.url, content=b" " * (5 * 1024 * 1024), headers={**headers, **auth})
        assert big.status_code == 413
        for raw, code in ((b"{nope", -32700), (b"[]", -32600), (b'{"jsonrpc":"2.0"}', -32600)):
            reply = await http.post(gw.url, content=raw, headers={**headers, **auth})
            assert reply.status_code == 400
            assert reply.json()["error"]["code"] == code
        assert (await http.get(gw.url, headers=auth)).status_code == 405
        unknown, h = modern_request("resources/list")
        reply = await http.post(gw.url, json=unknown, headers={**h, **auth})
        assert reply.json()["error"]["code"] == -32601
        mismatch = {**headers, **auth, "mcp-method": "tools/call"}
        reply = await http.post(gw.url, json=body, headers=mismatch)
        assert reply.status_code == 400
        bad_args, h = modern_request("tools/call", {"name": "work__x", "arguments": [1]})
        reply = await http.post(gw.url, json=bad_args, headers={**h, **auth})
        assert reply.json()["error"]["code"] == -32602
        # Legacy sessions: required, bound to the user who opened them, ended by DELETE.
        legacy = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
        }
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        reply = await http.post(gw.url, json=ping, headers={**legacy, **auth})
        assert reply.status_code == 400
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
            },
        }
        opened = await http.post(gw.url, json=init, headers={**legacy, **auth})
        session = opened.headers["mcp-session-id"]
        with_session = {**legacy, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        assert (await http.post(gw.url, json=ping, headers={**with_session, **auth})).json() == {
            "jsonrpc": "2.0",
            "id": 2,
            "result": {},
        }
        stolen = await http.post(
            gw.url, json=ping, headers={**with_session, "authorization": f"Bearer {other_token}"}
        )
        invented = await http.post(
            gw.url, json=ping, headers={**with_session, **auth, "mcp-session-id": "x" * 43}
        )
        assert stolen.status_code == invented.status_code == 404
        assert stolen.json() == invented.json()
        assert (await http.delete(gw.url, headers={**with_session, **auth})).status_code == 200
        gone = await http.post(gw.url, json=ping, headers={**with_session, **auth})
        assert gone.status_code == 404


async def test_an_internal_failure_is_a_json_rpc_error_without_details(
    local_gateway: GatewayUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = local_gateway
    _user, token = await gw.user_with_token()

    async def broken(owner: str) -> list[Any]:
        raise RuntimeError("database trouble in /var/lib/somewhere")

    monkeypatch.setattr(gw.backend, "list_connections", broken)
    body, headers = modern_request("tools/list")
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            gw.url, json=body, headers={**headers, "authorization": f"Bearer {token}"}
        )
    assert reply.status_code == 500
    assert reply.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32603, "message": "Internal error"},
    }
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "trouble" not in reply.text


async def test_a_crashed_bridge_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fixtures.mcp_gateway import FAKE_UPSTREAM_COMMAND, running_mcp_gateway

    # The fake upstream exits after answering two calls; the bridge then exits too.
    monkeypatch.setenv(
        "MCPOD_UPSTREAM_COMMAND", f"env FAKE_UPSTREAM_CRASH_AFTER=2 {FAKE_UPSTREAM_COMMAND}"
    )
    async with running_mcp_gateway(tmp_path) as gw:
        user, token = await gw.user_with_token()
        view = await gw.create_connection(user, "work", "contoso", sentinel_pat())
        async with agent(gw.url, token, "auto") as client:
            assert _payload(await client.call_tool("work__core_list_projects", {}))
            first = gw.backend.bridge_pid(view.name)
            await client.call_tool("work__core_list_projects", {})

            async def restarted() -> bool:
                pid = gw.backend.bridge_pid(view.name)
                bridge = gw.backend._bridges.get(view.name)
                return pid not in (None, first) and bridge is not None and bridge.ready.is_set()

            await eventually(restarted, what="bridge restarted", within=60)
            assert gw.backend._bridges.get(view.name).restarts >= 1
            answer = await client.call_tool("work__core_list_projects", {})
            assert _payload(answer)["organization"] == "contoso"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_on_postgresql(tmp_path: Path, postgres_url: str, mode: str) -> None:
    """Sessions, catalogue and audit on PostgreSQL (as in clusters) as well as SQLite."""
    from fixtures.mcp_gateway import running_mcp_gateway

    async with running_mcp_gateway(tmp_path, database_url=postgres_url) as gw:
        user, token = await gw.user_with_token()
        await gw.create_connection(user, "work", "contoso", sentinel_pat(), domains=["core"])
        async with agent(gw.url, token, mode) as client:
            for _ in range(2):
                answer = await client.call_tool("work__core_list_projects", {})
                assert _payload(answer)["organization"] == "contoso"
            names = await eventually(lambda: _tool_names(client), what="catalogue on PostgreSQL")
            assert "work__core_list_projects" in names
        rows = await _audit_rows(gw, user)
        assert [r.outcome for r in rows] == ["ok", "ok"]


async def test_deleting_a_user_removes_their_connections_and_stops_their_bridges(
    local_gateway: GatewayUnderTest,
) -> None:
    from mcpod_gateway import accounts

    gw = local_gateway
    user, token = await gw.user_with_token()
    view = await gw.create_connection(user, "work", "contoso", sentinel_pat())
    async with agent(gw.url, token, "auto") as client:
        await client.call_tool("work__core_list_projects", {})
    assert gw.backend.bridge_pid(view.name) is not None
    async with gw.app.state.sessionmaker() as db:
        await accounts.delete_user(db, user_id=user)
        await db.commit()
        assert await db.get(LocalConnection, view.name) is None

    async def stopped() -> bool:
        return gw.backend.bridge_pid(view.name) is None

    await eventually(stopped, what="bridge of a deleted user stopped", within=30)
    body, headers = modern_request("tools/list")
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            gw.url, json=body, headers={**headers, "authorization": f"Bearer {token}"}
        )
    assert reply.status_code == 401


async def test_concurrent_requests_share_one_read_of_the_connection_rows(
    local_gateway: GatewayUnderTest,
) -> None:
    gw = local_gateway
    user, _token = await gw.user_with_token()
    await gw.create_connection(user, "work", "contoso", sentinel_pat(), domains=["core"])
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM local_connections" in statement:
            reads.append(statement)

    engine = gw.app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        gw.backend._forget_rows(user)  # as after a write: the next reader goes to the database
        views = await asyncio.gather(*(gw.backend.get_connection(user, "work") for _ in range(20)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {v.slug for v in views} == {"work"}
    assert len(reads) == 1
