"""Read-only classification and allow/deny globs (mcpod_common.tool_filter)."""

from __future__ import annotations

from typing import Any

import pytest
from mcpod_common.tool_filter import (
    READ_ONLY_TOOLS,
    ToolPolicy,
    is_read_only_tool,
    parse_tool_patterns,
    read_only_refusal,
    read_only_view,
)


def tool(name: str, **props: Any) -> dict[str, Any]:
    return {"name": name, "inputSchema": {"type": "object", "properties": props, "required": []}}


@pytest.mark.parametrize(
    "name",
    [
        "wit_work_item_write",
        "repo_create_branch",
        "wiki_upsert_page",
        "pipelines_write",
        "brand_new",
    ],
)
def test_write_and_unknown_tools_are_not_read_only(name: str) -> None:
    assert not is_read_only_tool(name)
    refusal = read_only_refusal(name, {})
    assert refusal is not None
    assert name in refusal


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("wit_backlog", {"action": "reorder"}),
        ("pipelines_artifact", {"action": "download"}),
        ("wit_work_item_attachment", {"attachmentId": "1", "savePath": "out"}),
    ],
)
def test_write_actions_of_read_tools_are_refused(name: str, args: dict[str, Any]) -> None:
    assert is_read_only_tool(name)
    refusal = read_only_refusal(name, args)
    assert refusal is not None
    assert "read-only" in refusal


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("wit_backlog", {"action": "list"}),
        ("pipelines_artifact", {"action": "list"}),
        ("wit_work_item_attachment", {"attachmentId": "1"}),
        ("wit_work_item", {"action": "get", "id": 1}),
        ("core_list_projects", None),
    ],
)
def test_read_calls_pass(name: str, args: dict[str, Any] | None) -> None:
    assert read_only_refusal(name, args) is None


def test_parse_patterns() -> None:
    assert parse_tool_patterns(None) == ()
    assert parse_tool_patterns("  ") == ()
    assert parse_tool_patterns("wit_*, core_list_projects ,repo_[ab]*") == (
        "wit_*",
        "core_list_projects",
        "repo_[ab]*",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a,,b", "empty entry"),
        ("a,", "empty entry"),
        ("wit work", "invalid tool name"),
        ("x" * 65, "invalid tool name"),
        ("name;rm", "invalid tool name"),
    ],
)
def test_bad_patterns_are_rejected(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tool_patterns(value)


CATALOGUE = [
    tool("core_list_projects"),
    tool("wit_work_item"),
    tool("wit_work_item_write"),
    tool("wit_backlog", action={"type": "string", "enum": ["list", "list_work_items", "reorder"]}),
    tool("repo_create_branch"),
]


def names(tools: list[dict[str, Any]]) -> list[str]:
    return [t["name"] for t in tools]


def test_empty_policy_exposes_everything() -> None:
    policy = ToolPolicy()
    assert names(policy.filter_tools(CATALOGUE)) == names(CATALOGUE)
    assert policy.refusal("anything", {}) is None


def test_deny_wins_over_allow() -> None:
    policy = ToolPolicy(allow=("wit_*",), deny=("*_write",))
    assert names(policy.filter_tools(CATALOGUE)) == ["wit_work_item", "wit_backlog"]
    denied = policy.refusal("wit_work_item_write", {})
    assert denied is not None
    assert "denied" in denied
    outside = policy.refusal("core_list_projects", {})
    assert outside is not None
    assert "allowed" in outside


def test_read_only_and_allow_combine() -> None:
    policy = ToolPolicy(read_only=True, allow=("wit_*", "repo_*"))
    listed = policy.filter_tools(CATALOGUE)
    assert names(listed) == ["wit_work_item", "wit_backlog"]
    backlog = listed[1]
    assert backlog["inputSchema"]["properties"]["action"]["enum"] == ["list", "list_work_items"]
    # The caller's catalogue is not modified.
    assert "reorder" in CATALOGUE[3]["inputSchema"]["properties"]["action"]["enum"]
    assert policy.refusal("wit_backlog", {"action": "reorder"}) is not None
    assert policy.refusal("wit_backlog", {"action": "list"}) is None


def test_read_only_view_drops_write_arguments() -> None:
    attachment = {
        "name": "wit_work_item_attachment",
        "inputSchema": {
            "type": "object",
            "properties": {"attachmentId": {"type": "string"}, "savePath": {"type": "string"}},
            "required": ["attachmentId", "savePath"],
        },
    }
    view = read_only_view(attachment)
    assert set(view["inputSchema"]["properties"]) == {"attachmentId"}
    assert view["inputSchema"]["required"] == ["attachmentId"]
    assert "savePath" in attachment["inputSchema"]["properties"]


def test_tools_without_names_are_dropped() -> None:
    assert ToolPolicy().filter_tools([{"description": "no name"}, tool("wiki")]) == [tool("wiki")]


def test_read_only_set_has_no_write_names() -> None:
    assert not [n for n in READ_ONLY_TOOLS if n.endswith("_write")]
