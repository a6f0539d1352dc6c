#!/usr/bin/env python3
"""A fake `@azure-devops/mcp` for tests: a stdio MCP server with the upstream's command line.

Azure DevOps cannot be reached from the test machines, so this stands in for the upstream
wherever a real call path is not the point (the real server is tested next to it).  Standard
library only, so it starts in a few tens of milliseconds.

Command line (the same contract as `mcp-server-azuredevops`):

    python3 tests/fakes/fake_upstream.py <organization> -a pat -t <tenant> [-d <domain> ...]

- `-a pat` (the only mode mcpod uses; `envvar` reads ADO_MCP_AUTH_TOKEN) needs the env var
  PERSONAL_ACCESS_TOKEN = base64("<user>:<PAT>") with a non-empty PAT, or the process exits 1
  before answering `initialize`, like the real one.  Other `-a` modes exit 2.
- `-d` takes space-separated domains.  Like the real server, an unknown or comma-joined name
  enables ALL tools (fail-open; a warning goes to stderr) - callers must validate first.
- Logs go to stderr as JSON lines; stdout carries only JSON-RPC.  Stdin EOF or SIGTERM exits 0.

Tools (names mirror @azure-devops/mcp 2.10.0, a subset per domain):
    core               core_list_projects, core_list_project_teams, core_get_identity_ids
    work               work, work_iteration_write
    work-items         wit_work_item, wit_work_item_write, wit_backlog, wit_work_item_attachment
    search             search_code, search_workitem
    test-plans         testplan, testplan_test_plan_write
    repositories       repo_repository, repo_create_branch, repo_pull_request_write
    wiki               wiki, wiki_upsert_page
    pipelines          pipelines_build, pipelines_artifact, pipelines_write
    advanced-security  advsec_get_alerts
Every result is one text content item holding JSON with at least
`{"tool": name, "organization": org, "arguments": {...}}`, so a test can tell which
organization (i.e. which connection) answered.  `core_list_projects` also reports
`"fake": true`, the tenant, the PAT's length (never the PAT) and whether the client declared
elicitation at `initialize` (`clientElicitation`).  Tool failures come back as
results with `isError: true`, as the real server does; `core_list_project_teams`
without a `project` argument and without env `ado_mcp_project` fails with the upstream's
"Client does not support form elicitation" text (its project comes from the argument or that
env var, and `work` reports `ado_mcp_team` the same way).

Environment switches (all optional).  `mcpod-bridge` gives its child only the env the upstream
needs, so through a bridge set them in the command itself, e.g.
`MCPOD_UPSTREAM_COMMAND="env FAKE_UPSTREAM_LATENCY_MS=50 python3 tests/fakes/fake_upstream.py"`:
    FAKE_UPSTREAM_LATENCY_MS      sleep this long (float, ms) before answering each tools/call
    FAKE_UPSTREAM_CRASH_AFTER     after answering N tools/call requests, exit with code 3
    FAKE_UPSTREAM_FAIL_STARTUP    exit with this code (e.g. 1) before answering anything
    FAKE_UPSTREAM_STARTUP_DELAY_MS  sleep this long before serving (the real one needs ~680 ms)
    FAKE_UPSTREAM_PID_FILE        write this process's pid to that file at start
    FAKE_UPSTREAM_LEAK_PAT        =1: write the PAT (raw and encoded) to stderr at start, to prove
                                  that whoever runs the fake redacts its logs
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

# The upstream reads these lower-case names (per-connection default project/team).
ENV_PROJECT = "ado_mcp_project"
ENV_TEAM = "ado_mcp_team"
SERVER_NAME = "Fake Azure DevOps MCP Server"
SERVER_VERSION = "0.0.0-fake"
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", "2024-10-07")
DOMAINS = (
    "core",
    "work",
    "work-items",
    "search",
    "test-plans",
    "repositories",
    "wiki",
    "pipelines",
    "advanced-security",
)


def _schema(props: dict[str, dict[str, Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


def _s(desc: str) -> dict[str, Any]:
    return {"type": "string", "description": desc}


def _n(desc: str) -> dict[str, Any]:
    return {"type": "number", "description": desc}


def _action(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values), "description": "The action to perform."}


# (name, domain, description, input schema)
TOOLS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("core_list_projects", "core", "List projects.", _schema({"top": _n("Max projects.")})),
    (
        "core_list_project_teams",
        "core",
        "List a project's teams; without a project the user is asked to pick one.",
        _schema({"project": _s("Project name.")}),
    ),
    (
        "core_get_identity_ids",
        "core",
        "Identity ids matching a filter.",
        _schema({"searchFilter": _s("Filter.")}, ("searchFilter",)),
    ),
    (
        "work",
        "work",
        "Iterations and team settings.",
        _schema(
            {
                "action": _action("list_iterations", "get_team_settings"),
                "project": _s("Project."),
                "team": _s("Team."),
            },
            ("action",),
        ),
    ),
    (
        "work_iteration_write",
        "work",
        "Create or assign iterations.",
        _schema({"action": _action("create", "assign"), "project": _s("Project.")}, ("action",)),
    ),
    (
        "wit_work_item",
        "work-items",
        "Read work items.",
        _schema(
            {"action": _action("get", "get_batch", "my"), "id": _n("Id."), "project": _s("P.")},
            ("action",),
        ),
    ),
    (
        "wit_work_item_write",
        "work-items",
        "Create or update work items.",
        _schema(
            {
                "action": _action("create", "update"),
                "project": _s("Project."),
                "workItemType": _s("Type."),
                "id": _n("Id."),
                "fields": {"type": "array", "items": {"type": "object"}},
            },
            ("action",),
        ),
    ),
    (
        "wit_backlog",
        "work-items",
        "Backlogs: list, list work items, reorder.",
        _schema(
            {"action": _action("list", "list_work_items", "reorder"), "project": _s("P.")},
            ("action",),
        ),
    ),
    (
        "wit_work_item_attachment",
        "work-items",
        "Download an attachment; with savePath it is written to local disk.",
        _schema({"attachmentId": _s("Id."), "savePath": _s("Dir.")}, ("attachmentId",)),
    ),
    ("search_code", "search", "Search code.", _schema({"searchText": _s("T.")}, ("searchText",))),
    (
        "search_workitem",
        "search",
        "Search work items.",
        _schema({"searchText": _s("T.")}, ("searchText",)),
    ),
    (
        "testplan",
        "test-plans",
        "Test plans.",
        _schema({"action": _action("list_plans", "list_suites"), "project": _s("P.")}),
    ),
    (
        "testplan_test_plan_write",
        "test-plans",
        "Create a test plan.",
        _schema({"action": _action("create"), "name": _s("Name.")}, ("action",)),
    ),
    (
        "repo_repository",
        "repositories",
        "Repositories.",
        _schema({"action": _action("get", "list"), "project": _s("P.")}, ("action",)),
    ),
    (
        "repo_create_branch",
        "repositories",
        "Create a branch.",
        _schema({"repositoryId": _s("R."), "branchName": _s("B.")}, ("repositoryId", "branchName")),
    ),
    (
        "repo_pull_request_write",
        "repositories",
        "Create or update pull requests.",
        _schema({"action": _action("create", "update", "vote")}, ("action",)),
    ),
    (
        "wiki",
        "wiki",
        "Wikis.",
        _schema({"action": _action("list_wikis", "get_page"), "path": _s("P.")}, ("action",)),
    ),
    (
        "wiki_upsert_page",
        "wiki",
        "Create or update a wiki page.",
        _schema({"path": _s("P."), "content": _s("C.")}, ("path", "content")),
    ),
    (
        "pipelines_build",
        "pipelines",
        "Builds.",
        _schema({"action": _action("list", "get_status"), "project": _s("P.")}, ("action",)),
    ),
    (
        "pipelines_artifact",
        "pipelines",
        "Build artifacts: list, or download to a relative path.",
        _schema({"action": _action("list", "download"), "destinationPath": _s("D.")}, ("action",)),
    ),
    (
        "pipelines_write",
        "pipelines",
        "Run or create pipelines.",
        _schema({"action": _action("run_pipeline", "create_pipeline")}, ("action",)),
    ),
    (
        "advsec_get_alerts",
        "advanced-security",
        "Advanced Security alerts.",
        _schema({"project": _s("P."), "repository": _s("R.")}, ("project", "repository")),
    ),
]


def log(level: str, message: str, **fields: Any) -> None:
    sys.stderr.write(json.dumps({"level": level, "message": message, **fields}) + "\n")
    sys.stderr.flush()


class UsageError(Exception):
    pass


def parse_args(argv: list[str]) -> tuple[str, str, str | None, list[str]]:
    """(organization, auth mode, tenant, domains) - the upstream's own flags."""
    org: str | None = None
    auth = "interactive"
    tenant: str | None = None
    domains: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-a", "--authentication"):
            i += 1
            if i >= len(argv):
                raise UsageError("-a needs a value")
            auth = argv[i]
        elif arg in ("-t", "--tenant"):
            i += 1
            if i >= len(argv):
                raise UsageError("-t needs a value")
            tenant = argv[i]
        elif arg in ("-d", "--domains"):
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                domains.append(argv[i])
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        elif org is None:
            org = arg
        else:
            raise UsageError(f"unexpected argument {arg}")
        i += 1
    if org is None:
        raise UsageError("the organization is a required positional argument")
    return org, auth, tenant, domains


def enabled_domains(requested: list[str]) -> set[str]:
    """The upstream's fail-open rule: any unknown (or comma-joined) name enables everything."""
    if not requested:
        return set(DOMAINS)
    unknown = [d for d in requested if d not in DOMAINS]
    if unknown:
        log("warn", "unknown domains, enabling all tools", unknown=unknown)
        return set(DOMAINS)
    return set(requested)


def decode_pat(value: str | None) -> str | None:
    if not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, pat = decoded.partition(":")
    return pat if sep and pat else None


class FakeServer:
    def __init__(self, org: str, tenant: str | None, domains: set[str], pat: str) -> None:
        self.org = org
        self.tenant = tenant
        self.pat_length = len(pat)
        self.tools = [t for t in TOOLS if t[1] in domains]
        self.by_name = {t[0]: t for t in self.tools}
        self.latency = float(os.environ.get("FAKE_UPSTREAM_LATENCY_MS", "0") or 0) / 1000
        crash = os.environ.get("FAKE_UPSTREAM_CRASH_AFTER", "")
        self.crash_after = int(crash) if crash else None
        self.calls = 0
        self.client_elicitation = False

    def write(self, message: dict[str, Any]) -> None:
        sys.stdout.buffer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        sys.stdout.buffer.flush()

    async def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if "id" not in message or not isinstance(method, str):
            return  # notifications and responses to us: nothing to do
        request_id = message["id"]
        params = message.get("params") or {}
        try:
            result = await self.dispatch(method, params)
        except LookupError:
            self.write(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": "Method not found"},
                }
            )
            return
        self.write({"jsonrpc": "2.0", "id": request_id, "result": result})
        if method == "tools/call" and self.crash_after is not None:
            self.calls += 1
            if self.calls >= self.crash_after:
                log("error", "crashing on purpose", calls=self.calls)
                os._exit(3)

    async def dispatch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "initialize":
            requested = params.get("protocolVersion")
            caps = params.get("capabilities") or {}
            self.client_elicitation = "elicitation" in caps
            return {
                "protocolVersion": requested
                if requested in PROTOCOL_VERSIONS
                else PROTOCOL_VERSIONS[0],
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": SERVER_NAME, "version": SERVER_VERSION},
            }
        if method == "ping":
            return {}
        if method == "tools/list":
            return {
                "tools": [
                    {"name": name, "description": desc, "inputSchema": schema}
                    for name, _, desc, schema in self.tools
                ]
            }
        if method == "tools/call":
            if self.latency:
                await asyncio.sleep(self.latency)
            return self.call_tool(str(params.get("name")), params.get("arguments") or {})
        raise LookupError(method)

    def call_tool(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        tool = self.by_name.get(name)
        if tool is None:
            return _error(f"MCP error -32602: Tool {name} not found")
        schema = tool[3]
        missing = [r for r in schema["required"] if r not in args]
        if missing:
            return _error(f"MCP error -32602: Invalid arguments for tool {name}: missing {missing}")
        action = args.get("action")
        enum = schema["properties"].get("action", {}).get("enum")
        if action is not None and enum and action not in enum:
            return _error(f"MCP error -32602: Invalid arguments for tool {name}: action {action}")
        body: dict[str, Any] = {"tool": name, "organization": self.org, "arguments": args}
        if name == "core_list_projects":
            body.update(
                fake=True,
                clientElicitation=self.client_elicitation,
                tenant=self.tenant,
                patLength=self.pat_length,
                projects=[{"name": f"{self.org}-project-{i}"} for i in range(1, 4)],
            )
        elif name == "core_list_project_teams":
            project = args.get("project") or os.environ.get(ENV_PROJECT)
            if not project:
                return _error(
                    "Error fetching project teams: Client does not support form elicitation."
                )
            body.update(project=project, teams=[f"{project} Team"])
        elif name == "work":
            body.update(
                project=args.get("project") or os.environ.get(ENV_PROJECT),
                team=args.get("team") or os.environ.get(ENV_TEAM),
            )
        elif name == "wit_work_item":
            item_id = int(args.get("id", 1))
            body.update(id=item_id, title=f"Work item {item_id} in {self.org}")
        elif name == "wit_work_item_write" and action == "create":
            body.update(id=1000 + len(json.dumps(args, sort_keys=True)))
        return {"content": [{"type": "text", "text": json.dumps(body, sort_keys=True)}]}


def _error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


async def serve(server: FakeServer) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    tasks: set[asyncio.Task[None]] = set()

    async def read_loop() -> None:
        while line := await reader.readline():
            try:
                message = json.loads(line)
            except ValueError:
                log("error", "unparseable line on stdin")
                continue
            task = asyncio.create_task(server.handle(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    reading = asyncio.create_task(read_loop())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    log("info", "shutting down", sigterm=stop.is_set())


def main(argv: list[str]) -> int:
    if pid_file := os.environ.get("FAKE_UPSTREAM_PID_FILE"):
        Path(pid_file).write_text(str(os.getpid()))
    try:
        org, auth, tenant, requested = parse_args(argv)
    except UsageError as exc:
        log("error", str(exc))
        return 2
    if fail := os.environ.get("FAKE_UPSTREAM_FAIL_STARTUP"):
        log("error", "startup failure requested by FAKE_UPSTREAM_FAIL_STARTUP")
        return int(fail)
    if auth == "pat":
        pat = decode_pat(os.environ.get("PERSONAL_ACCESS_TOKEN"))
        if pat is None:
            log("error", "PERSONAL_ACCESS_TOKEN is missing or not base64 of '<user>:<PAT>'")
            return 1
    elif auth == "envvar":
        pat = os.environ.get("ADO_MCP_AUTH_TOKEN", "")
        if not pat:
            log("error", "ADO_MCP_AUTH_TOKEN is missing")
            return 1
    else:
        log("error", f"the fake supports -a pat and -a envvar, not {auth}")
        return 2
    if tenant is None:
        # The real server would first call an Azure endpoint here; mcpod must always pass -t.
        log("warn", "no -t given: the real server would look up the tenant over the network")
    if delay := os.environ.get("FAKE_UPSTREAM_STARTUP_DELAY_MS"):
        # A blocking sleep on purpose: nothing may be answered before startup is done.
        import time

        time.sleep(float(delay) / 1000)
    if os.environ.get("FAKE_UPSTREAM_LEAK_PAT") == "1":
        log("debug", f"leaking on purpose: {pat} {os.environ.get('PERSONAL_ACCESS_TOKEN')}")
    server = FakeServer(org, tenant, enabled_domains(requested), pat)
    log("info", "fake upstream ready", organization=org, tools=len(server.tools))
    asyncio.run(serve(server))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
