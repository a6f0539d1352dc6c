"""The bridge as a real process in front of the fake upstream: protocols, auth, policy, faults."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from bridge_runner import BRIDGE_TOKEN, PAT_SENTINEL, BridgeFactory, RunningBridge
from mcp.shared.exceptions import MCPError

MODERN = "2026-07-28"
MODES = ["legacy", MODERN, "auto"]
# Every tool of the fake (all domains).
FAKE_TOOL_COUNT = 22


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> str:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return json.dumps(body)


def tool_text(result: Any) -> dict[str, Any]:
    text = result.content[0].text
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def wait_exit(bridge: RunningBridge, timeout: float = 30) -> int:
    return bridge.process.wait(timeout=timeout)


# --- protocols --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_lists_and_calls_tools(bridges: BridgeFactory, mode: str) -> None:
    bridge = bridges.start()
    async with bridge.client(mode) as client:
        if mode == "legacy":
            assert client.protocol_version == "2025-11-25"
        else:
            assert client.protocol_version == MODERN
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        assert len(names) == FAKE_TOOL_COUNT
        assert {"core_list_projects", "wit_work_item", "wit_work_item_write"} <= names
        result = await client.call_tool("wit_work_item", {"action": "get", "id": 42})
        assert not result.is_error
        body = tool_text(result)
        assert body["organization"] == "contoso"
        assert body["title"] == "Work item 42 in contoso"


async def test_bridge_presents_the_upstream_identity(bridges: BridgeFactory) -> None:
    bridge = bridges.start()
    async with bridge.client("legacy") as client:
        assert client.server_info is not None
        assert client.server_info.name == "Fake Azure DevOps MCP Server"
        assert client.server_info.version == "0.0.0-fake"
        # The bridge never offers to ask the user anything.
        assert client.session.initialize_result is not None


async def test_one_upstream_process_serves_all_requests(bridges: BridgeFactory) -> None:
    bridge = bridges.start(FAKE_UPSTREAM_LATENCY_MS="100")
    first = bridge.upstream_pid()
    results: list[Any] = [None] * 50

    async def call(i: int) -> None:
        async with bridge.client(MODERN if i % 2 else "legacy") as client:
            results[i] = await client.call_tool("wit_work_item", {"action": "get", "id": i})

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(call, i)
    for i, result in enumerate(results):
        assert result is not None
        assert not result.is_error
        assert tool_text(result)["id"] == i  # each answer went to the caller who asked
    assert bridge.upstream_pid() == first
    assert int(bridge.pid_file.read_text()) == first


async def test_concurrent_calls_share_one_session(bridges: BridgeFactory) -> None:
    """50 raw POSTs in flight at once on one bridge, each with its own id, all answered."""
    bridge = bridges.start(FAKE_UPSTREAM_LATENCY_MS="200")
    headers = {
        "authorization": f"Bearer {BRIDGE_TOKEN}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2025-11-25",
    }
    async with httpx.AsyncClient(base_url=bridge.url, timeout=30) as http:
        answers: dict[int, Any] = {}

        async def post(i: int) -> None:
            body = rpc(
                "tools/call",
                {"name": "wit_work_item", "arguments": {"action": "get", "id": i}},
                1000 + i,
            )
            response = await http.post("/mcp", content=body, headers=headers)
            answers[i] = response.json()

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(post, i)
    assert len(answers) == 50
    for i, answer in answers.items():
        assert answer["id"] == 1000 + i
        assert json.loads(answer["result"]["content"][0]["text"])["id"] == i


# --- auth and probes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token-0123456789",
        f"Basic {BRIDGE_TOKEN}",
        "Bearer",
        f"Bearer {BRIDGE_TOKEN}x",
    ],
)
def test_mcp_requires_the_bridge_token(bridges: BridgeFactory, authorization: str | None) -> None:
    bridge = bridges.start()
    headers = {} if authorization is None else {"authorization": authorization}
    response = bridge.post(rpc("tools/list"), token=None, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert BRIDGE_TOKEN not in response.text
    # The probes need no token.
    assert bridge.get("/healthz").status_code == 200
    assert bridge.get("/readyz").json()["status"] == "ready"


async def test_sdk_client_with_a_wrong_token_fails(bridges: BridgeFactory) -> None:
    bridge = bridges.start()
    with pytest.raises(BaseException) as caught:  # noqa: PT011 - the SDK nests it in groups
        async with bridge.client("legacy", token="not-the-token-0123456789") as client:
            await client.list_tools()
    leaf: BaseException = caught.value
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, MCPError)
    # The same request with the right token works.
    async with bridge.client("legacy") as client:
        assert len((await client.list_tools()).tools) == FAKE_TOOL_COUNT


def test_not_ready_until_the_upstream_answered_initialize(bridges: BridgeFactory) -> None:
    # The fake sleeps long enough that the bridge is surely listening before it answers.
    bridge = bridges.start(wait=False, FAKE_UPSTREAM_STARTUP_DELAY_MS="8000")
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, bridge.log()
        try:
            first = bridge.get("/readyz")
            break
        except httpx.TransportError:
            time.sleep(0.02)
    assert first.status_code == 503
    assert first.json()["status"] == "starting"
    assert bridge.get("/healthz").status_code == 200  # alive, just not ready
    refused = bridge.post(rpc("tools/list"))
    assert refused.status_code == 503
    assert "still starting" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "1"
    bridge.wait_ready()
    assert bridge.get("/readyz").json()["status"] == "ready"
    assert bridge.post(rpc("tools/list")).status_code == 200


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, "2025-11-25", MODERN])
def test_malformed_json_is_a_parse_error(bridges: BridgeFactory, version: str | None) -> None:
    bridge = bridges.start()
    headers = {"mcp-protocol-version": version} if version else {}
    response = bridge.post(b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


def test_oversized_body_is_refused(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_MAX_BODY_BYTES="2048")
    big = rpc(
        "tools/call",
        {"name": "wiki_upsert_page", "arguments": {"path": "/x", "content": "a" * 5000}},
    )
    response = bridge.post(big)
    assert response.status_code == 413
    assert "2048" in response.json()["error"]["message"]
    # A normal request still works afterwards.
    assert bridge.post(rpc("tools/list")).status_code == 200


@pytest.mark.parametrize("version", ["2025-11-25", MODERN])
def test_unknown_method_is_method_not_found(bridges: BridgeFactory, version: str) -> None:
    bridge = bridges.start()
    params: dict[str, Any] = {}
    headers = {"mcp-protocol-version": version}
    if version == MODERN:
        params = {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
        headers["mcp-method"] = "no/such/method"
    response = bridge.post(rpc("no/such/method", params), headers=headers)
    assert response.json()["error"]["code"] == -32601


def test_other_bad_requests(bridges: BridgeFactory) -> None:
    bridge = bridges.start()
    # A JSON array (batch) or a non-request object is not one JSON-RPC request.
    batch = bridge.post(json.dumps([json.loads(rpc("tools/list"))]))
    assert batch.status_code == 400
    assert batch.json()["error"]["code"] in (-32600, -32602, -32700)
    # tools/call without a name is invalid params.
    nameless = bridge.post(rpc("tools/call", {"arguments": {}}))
    assert nameless.json()["error"]["code"] == -32602
    # Unknown paths and methods.
    assert bridge.get("/nope").status_code == 404
    assert bridge.get("/mcp").status_code == 401
    get = httpx.get(
        bridge.mcp_url,
        headers={"authorization": f"Bearer {BRIDGE_TOKEN}", "accept": "text/event-stream"},
    )
    assert get.status_code == 405
    assert bridge.process.poll() is None


async def test_unknown_tool_is_reported_by_the_upstream(bridges: BridgeFactory) -> None:
    bridge = bridges.start()
    async with bridge.client(MODERN) as client:
        result = await client.call_tool("no_such_tool", {})
        assert result.is_error
        assert "no_such_tool" in result.content[0].text


# --- policy ------------------------------------------------------------------------------------


async def test_read_only_hides_and_refuses_write_tools(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_READ_ONLY="true")
    async with bridge.client(MODERN) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "wit_work_item" in tools
        assert "wit_backlog" in tools
        for write in (
            "wit_work_item_write",
            "repo_create_branch",
            "wiki_upsert_page",
            "pipelines_write",
        ):
            assert write not in tools
        assert tools["wit_backlog"].input_schema["properties"]["action"]["enum"] == [
            "list",
            "list_work_items",
        ]
        assert "savePath" not in tools["wit_work_item_attachment"].input_schema["properties"]
        ok = await client.call_tool("wit_backlog", {"action": "list"})
        assert not ok.is_error
        for name, args in [
            ("wit_backlog", {"action": "reorder"}),
            ("pipelines_artifact", {"action": "download", "destinationPath": "x"}),
            ("wit_work_item_write", {"action": "create"}),
            ("wit_work_item_attachment", {"attachmentId": "1", "savePath": "d"}),
        ]:
            with pytest.raises(MCPError) as refused:
                await client.call_tool(name, args)
            assert "read-only" in refused.value.error.message
            assert name in refused.value.error.message


async def test_allow_and_deny_globs(bridges: BridgeFactory) -> None:
    bridge = bridges.start(
        MCPOD_TOOLS_ALLOW="wit_*, core_list_projects", MCPOD_TOOLS_DENY="*_write"
    )
    async with bridge.client("legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            "core_list_projects",
            "wit_work_item",
            "wit_backlog",
            "wit_work_item_attachment",
        }
        with pytest.raises(MCPError, match="denied"):
            await client.call_tool("wit_work_item_write", {"action": "create"})
        with pytest.raises(MCPError, match="not in this connection's allowed tools"):
            await client.call_tool("repo_repository", {"action": "list"})


async def test_domains_reach_the_upstream(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_DOMAINS="core  wiki")
    async with bridge.client(MODERN) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {
        "core_list_projects",
        "core_list_project_teams",
        "core_get_identity_ids",
        "wiki",
        "wiki_upsert_page",
    }
    cmdline = Path(f"/proc/{bridge.upstream_pid()}/cmdline").read_bytes().split(b"\0")
    assert cmdline[-4:-1] == [b"-d", b"core", b"wiki"]
    assert b"-t" in cmdline
    assert b"pat" in cmdline


@pytest.mark.parametrize(
    ("domains", "expected"),
    [("core,work", "comma-joined"), ("core wrk", "unknown domain"), ("Core", "unknown domain")],
)
def test_bad_domains_are_rejected_before_any_upstream_starts(
    bridges: BridgeFactory, domains: str, expected: str
) -> None:
    bridge = bridges.start(wait=False, MCPOD_DOMAINS=domains)
    assert wait_exit(bridge) == 2
    assert expected in bridge.log()
    assert not bridge.pid_file.exists(), "an upstream was started with bad domains"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MCPOD_ORGANIZATION": ""}, "MCPOD_ORGANIZATION is required"),
        ({"MCPOD_ORGANIZATION": "bad org/x"}, "not an organization name"),
        ({"MCPOD_PAT": ""}, "MCPOD_PAT is required"),
        ({"MCPOD_BRIDGE_TOKEN": "short"}, "at least 16"),
        ({"MCPOD_READ_ONLY": "yes"}, "expected 'true' or 'false'"),
        ({"MCPOD_TOOLS_DENY": "a,,b"}, "empty entry"),
        ({"MCPOD_LISTEN": "8080"}, "host:port"),
        ({"MCPOD_CALL_TIMEOUT": "soon"}, "invalid duration"),
        ({"MCPOD_UPSTREAM_COMMAND": "'unterminated"}, "MCPOD_UPSTREAM_COMMAND"),
        ({"MCPOD_SCRATCH_DIR": "/proc/nope"}, "MCPOD_SCRATCH_DIR"),
    ],
)
def test_bad_settings_are_clear_startup_errors(
    bridges: BridgeFactory, env: dict[str, str], expected: str
) -> None:
    bridge = bridges.start(wait=False, **env)
    assert wait_exit(bridge) == 2
    log = bridge.log()
    assert "configuration error" in log
    assert expected in log
    assert PAT_SENTINEL not in log
    assert BRIDGE_TOKEN not in log


# --- defaults, elicitation, timeouts -----------------------------------------------------------


async def test_default_project_and_team_reach_the_upstream(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_DEFAULT_PROJECT="Fabrikam Web", MCPOD_DEFAULT_TEAM="Blue Team")
    async with bridge.client(MODERN) as client:
        work = tool_text(await client.call_tool("work", {"action": "list_iterations"}))
        assert (work["project"], work["team"]) == ("Fabrikam Web", "Blue Team")
        teams = await client.call_tool("core_list_project_teams", {})
        assert not teams.is_error
        assert tool_text(teams)["project"] == "Fabrikam Web"


async def test_missing_project_explains_how_to_set_a_default(bridges: BridgeFactory) -> None:
    bridge = bridges.start()
    async with bridge.client("legacy") as client:
        result = await client.call_tool("core_list_project_teams", {})
    assert result.is_error
    text = result.content[0].text
    assert "set a default project/team for this connection" in text
    assert "elicitation" in text  # the upstream's own words are kept for diagnosis


async def test_slow_upstream_call_times_out_clearly(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_CALL_TIMEOUT="1s", FAKE_UPSTREAM_LATENCY_MS="5000")
    async with bridge.client(MODERN) as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("core_list_projects", {})
    assert "did not answer tools/call core_list_projects within 1s" in caught.value.error.message
    assert bridge.get("/healthz").status_code == 200


# --- the child's process and environment -------------------------------------------------------


def test_child_gets_only_the_env_it_needs(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_DEFAULT_PROJECT="P1", NODE_EXTRA_CA_CERTS="/tmp/ca.pem")
    pid = bridge.upstream_pid()
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if item)
    assert not [k for k in env if k.startswith("MCPOD_")]
    import base64

    assert base64.b64decode(env["PERSONAL_ACCESS_TOKEN"]).decode() == f":{PAT_SENTINEL}"
    assert PAT_SENTINEL not in "".join(env.values())
    assert BRIDGE_TOKEN not in "".join(env.values())
    assert env["HOME"] == str(bridge.scratch)
    assert env["ado_mcp_project"] == "P1"
    assert env["NODE_EXTRA_CA_CERTS"] == "/tmp/ca.pem"
    assert str(Path(f"/proc/{pid}/cwd").readlink()) == str(bridge.scratch)


async def test_pat_never_leaks(bridges: BridgeFactory) -> None:
    """Logs (even when the upstream itself prints the PAT), argv of every process, error texts."""
    bridge = bridges.start(
        FAKE_UPSTREAM_LEAK_PAT="1", MCPOD_READ_ONLY="true", MCPOD_LOG_LEVEL="debug"
    )
    texts: list[str] = []
    async with bridge.client(MODERN) as client:
        texts.append(json.dumps([t.model_dump() for t in (await client.list_tools()).tools]))
        result = await client.call_tool("core_list_projects", {})
        texts.append(result.model_dump_json())
        assert tool_text(result)["patLength"] == len(PAT_SENTINEL)  # it did reach the upstream
        assert tool_text(result)["clientElicitation"] is False  # never advertised upstream
        with pytest.raises(MCPError) as refused:
            await client.call_tool("wit_work_item_write", {"action": "create"})
        texts.append(str(refused.value))
    texts.append(bridge.post(b"{not json").text)
    texts.append(bridge.post(rpc("tools/list"), token="wrong-wrong-wrong-wrong").text)
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            try:
                cmdline = (pid_dir / "cmdline").read_bytes()
            except OSError:
                continue
            assert PAT_SENTINEL.encode() not in cmdline, f"PAT in argv of pid {pid_dir.name}"
            assert BRIDGE_TOKEN.encode() not in cmdline
    import base64

    encoded = base64.b64encode(f":{PAT_SENTINEL}".encode()).decode()
    assert bridge.stop() == 0
    log = bridge.log()
    assert "leaking on purpose" in log  # the upstream's line did reach the log, redacted
    for text in [*texts, log]:
        assert PAT_SENTINEL not in text
        assert encoded not in text
        assert BRIDGE_TOKEN not in text


# --- failures and shutdown ---------------------------------------------------------------------


def test_child_crash_fails_healthz_and_exits_nonzero(bridges: BridgeFactory) -> None:
    bridge = bridges.start(FAKE_UPSTREAM_CRASH_AFTER="1")
    # A raw POST: the SDK client would follow the call with a tools/list, after the crash.
    first = bridge.post(rpc("tools/call", {"name": "core_list_projects", "arguments": {}}))
    assert first.json()["result"]["content"][0]["type"] == "text"
    statuses: set[int] = set()
    with httpx.Client(base_url=bridge.url, timeout=5) as http:
        while bridge.process.poll() is None:
            try:
                response = http.get("/healthz")
            except httpx.TransportError:
                break
            statuses.add(response.status_code)
            if response.status_code == 503:
                assert "exited with code 3" in response.json()["detail"]
                assert http.get("/readyz").status_code == 503
                later = bridge.post(rpc("tools/list"))
                assert later.status_code == 503
                break
            time.sleep(0.02)
    assert 503 in statuses
    assert wait_exit(bridge) == 1
    assert "exited with code 3" in bridge.log()


def test_upstream_startup_failure_exits_nonzero(bridges: BridgeFactory) -> None:
    bridge = bridges.start(wait=False, FAKE_UPSTREAM_FAIL_STARTUP="1")
    assert wait_exit(bridge) == 1
    log = bridge.log()
    assert "exited with code 1 during startup" in log
    assert "startup failure requested" in log  # the upstream's stderr is in our log


def test_sigterm_lets_in_flight_calls_finish(bridges: BridgeFactory) -> None:
    bridge = bridges.start(FAKE_UPSTREAM_LATENCY_MS="4000")
    upstream = bridge.upstream_pid()
    answer: dict[str, Any] = {}

    def call() -> None:
        body = rpc("tools/call", {"name": "core_list_projects", "arguments": {}})
        with httpx.Client(timeout=30) as http:
            answer["response"] = http.post(
                bridge.mcp_url,
                content=body,
                headers={
                    "authorization": f"Bearer {BRIDGE_TOKEN}",
                    "content-type": "application/json",
                    "accept": "application/json, text/event-stream",
                },
            )

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(1.5)  # let the call reach the upstream before asking the bridge to stop
    bridge.process.send_signal(signal.SIGTERM)
    caller.join(30)
    response = answer["response"]
    assert response.status_code == 200
    assert json.loads(response.json()["result"]["content"][0]["text"])["organization"] == "contoso"
    assert wait_exit(bridge) == 0
    assert not Path(f"/proc/{upstream}").exists(), "the upstream outlived the bridge"


# --- the direct tools/call path agrees with the SDK's ---------------------------------------


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.mark.parametrize("modern", [False, True])
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("wit_work_item", {"action": "get", "id": 5}),
        ("core_list_project_teams", {}),  # an upstream failure, rewritten by the bridge
        ("no_such_tool", {}),
    ],
)
def test_direct_and_sdk_paths_answer_alike(
    bridges: BridgeFactory, modern: bool, name: str, args: dict[str, Any]
) -> None:
    """A plain call takes the bridge's direct path; an extra `_meta` key sends the same call
    through the SDK's server layer. Both must give the agent the same answer."""
    bridge = bridges.start()
    if modern:
        headers = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": name}
        plain_meta: dict[str, Any] = dict(MODERN_META)
        routed_meta = {**MODERN_META, "example.com/trace": "1"}
    else:
        headers = {"mcp-protocol-version": "2025-11-25"}
        plain_meta = {}
        routed_meta = {"progressToken": "p1"}
    answers = []
    for meta in (plain_meta, routed_meta):
        params: dict[str, Any] = {"name": name, "arguments": args}
        if meta:
            params["_meta"] = meta
        response = bridge.post(rpc("tools/call", params, 9), headers=headers)
        assert response.status_code == 200
        answers.append(response.json())
    direct, through_sdk = answers
    assert direct["id"] == through_sdk["id"] == 9
    if modern:
        assert direct["result"]["_meta"] == through_sdk["result"]["_meta"]
        assert direct["result"]["resultType"] == "complete"
    assert direct == through_sdk


def test_refused_calls_take_the_sdk_path_for_their_error(bridges: BridgeFactory) -> None:
    bridge = bridges.start(MCPOD_TOOLS_DENY="wiki*")
    response = bridge.post(
        rpc("tools/call", {"name": "wiki", "arguments": {"action": "list_wikis"}}),
        headers={"mcp-protocol-version": "2025-11-25"},
    )
    assert response.json()["error"]["code"] == -32602
    assert "denied" in response.json()["error"]["message"]
