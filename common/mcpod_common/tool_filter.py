"""Which upstream tools a connection exposes: read-only classification and allow/deny globs.

Pure functions shared by the bridge (inside each pod) and the gateway, so both enforce exactly
the same rules.  Names here are the upstream's own (without the gateway's `<slug>__` prefix).

`@azure-devops/mcp` marks no tool read-only (no `readOnlyHint`, no read-only flag), so the
read-only set is an allow-list we keep for the pinned version (2.10.0).  A tool missing from it
- a new upstream tool, a renamed one - counts as a write tool: unknown means refused.
Some read tools take an `action` or argument that writes; those are refused per call.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# Tools that only read Azure DevOps, per @azure-devops/mcp 2.10.0.
READ_ONLY_TOOLS: Final = frozenset(
    {
        "core_list_projects",
        "core_list_project_teams",
        "core_get_identity_ids",
        "work",
        "wit_work_item",
        "wit_query",
        "wit_backlog",
        "wit_work_item_attachment",
        "search_code",
        "search_wiki",
        "search_workitem",
        "testplan",
        "testplan_show_test_results_from_build_id",
        "repo_repository",
        "repo_pull_request",
        "repo_pull_request_thread",
        "repo_branch",
        "repo_file",
        "repo_search_commits",
        "wiki",
        "pipelines_build",
        "pipelines_build_log",
        "pipelines_definition",
        "pipelines_run",
        "pipelines_artifact",
        "advsec_get_alerts",
        "advsec_get_alert_details",
    }
)

# Values of the `action` argument that write, on tools that are otherwise read-only.
# `wit_backlog reorder` changes backlog order; `pipelines_artifact download` writes to the
# pod's disk.
WRITE_ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    "wit_backlog": frozenset({"reorder"}),
    "pipelines_artifact": frozenset({"download"}),
}

# Arguments that make an otherwise read-only tool write to the pod's disk.
WRITE_ARGUMENTS: Final[Mapping[str, frozenset[str]]] = {
    "wit_work_item_attachment": frozenset({"savePath"}),
}

# A pattern is a tool name or an fnmatch glob over tool names.
_PATTERN = re.compile(r"^[A-Za-z0-9_*?\[\]!-]{1,64}$")


def parse_tool_patterns(value: str | None) -> tuple[str, ...]:
    """Split a comma-separated list of names or globs (`MCPOD_TOOLS_ALLOW`/`_DENY`).

    Surrounding spaces are ignored; an empty value means no patterns.  Raises ValueError
    naming the offending entry.
    """
    if value is None or not value.strip():
        return ()
    patterns = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"empty entry in tool list {value!r}: separate names with one comma")
        if not _PATTERN.fullmatch(entry):
            raise ValueError(
                f"invalid tool name or glob {entry!r}: use letters, digits, '_', '-' and the "
                "glob characters * ? [ ] ! (at most 64)"
            )
        patterns.append(entry)
    return tuple(patterns)


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_read_only_tool(name: str) -> bool:
    """Whether a read-only connection lists the tool (some of its actions may still be refused)."""
    return name in READ_ONLY_TOOLS


def read_only_refusal(name: str, arguments: Mapping[str, Any] | None) -> str | None:
    """Why a call would write, or None when it only reads."""
    if name not in READ_ONLY_TOOLS:
        return f"tool {name!r} can change data and this connection is read-only"
    args = arguments or {}
    action = args.get("action")
    if isinstance(action, str) and action in WRITE_ACTIONS.get(name, frozenset()):
        return (
            f"action {action!r} of tool {name!r} can change data and this connection is read-only"
        )
    for arg in sorted(WRITE_ARGUMENTS.get(name, frozenset())):
        if args.get(arg) is not None:
            return (
                f"argument {arg!r} of tool {name!r} writes to disk and this connection is read-only"
            )
    return None


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """A connection's tool rules: read-only, then allow-list (empty = all), then deny (wins)."""

    read_only: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def exposes(self, name: str) -> bool:
        """Whether `tools/list` shows the tool."""
        if self.read_only and not is_read_only_tool(name):
            return False
        if self.allow and not matches_any(name, self.allow):
            return False
        return not matches_any(name, self.deny)

    def refusal(self, name: str, arguments: Mapping[str, Any] | None) -> str | None:
        """Why a `tools/call` is refused, or None when it may go upstream."""
        if matches_any(name, self.deny):
            return f"tool {name!r} is denied on this connection"
        if self.allow and not matches_any(name, self.allow):
            return f"tool {name!r} is not in this connection's allowed tools"
        if self.read_only:
            return read_only_refusal(name, arguments)
        return None

    def filter_tools(self, tools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The listed tools, each as a copy; on a read-only connection the write actions and
        write arguments are removed from the schema so agents are not offered them."""
        listed = []
        for tool in tools:
            name = tool.get("name")
            if not isinstance(name, str) or not self.exposes(name):
                continue
            listed.append(read_only_view(tool) if self.read_only else dict(tool))
        return listed


def read_only_view(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the tool without its write actions and write arguments in `inputSchema`."""
    name = tool.get("name")
    view = dict(tool)
    write_actions = WRITE_ACTIONS.get(str(name), frozenset())
    write_args = WRITE_ARGUMENTS.get(str(name), frozenset())
    schema = tool.get("inputSchema")
    if not (write_actions or write_args) or not isinstance(schema, Mapping):
        return view
    schema = copy.deepcopy(dict(schema))
    props = schema.get("properties")
    if isinstance(props, dict):
        action = props.get("action")
        if isinstance(action, dict) and isinstance(action.get("enum"), list):
            action["enum"] = [v for v in action["enum"] if v not in write_actions]
        for arg in write_args:
            props.pop(arg, None)
    required = schema.get("required")
    if isinstance(required, list):
        schema["required"] = [r for r in required if r not in write_args]
    view["inputSchema"] = schema
    return view
