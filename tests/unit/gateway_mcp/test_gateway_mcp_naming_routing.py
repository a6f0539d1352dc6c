"""Tool names and the pod label re-check (pure functions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcpod_common.vocabulary import (
    APP_NAME_CONNECTION,
    KIND,
    LABEL_APP_NAME,
    LABEL_CONNECTION,
    LABEL_OWNER,
)
from mcpod_gateway.mcp import naming
from mcpod_gateway.mcp.routing import pod_bridge_url, pod_may_serve, select_pod

OWNER = "uaaaaaaaaaaaaaaaaaaaa"
CONNECTION = f"{OWNER}-work"
UID = "11111111-2222-3333-4444-555555555555"


def pod(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {
            "name": f"{CONNECTION}-abc",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {
                LABEL_APP_NAME: APP_NAME_CONNECTION,
                LABEL_OWNER: OWNER,
                LABEL_CONNECTION: CONNECTION,
            },
            "ownerReferences": [{"kind": KIND, "name": CONNECTION, "uid": UID}],
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.9",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        if value is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return body


def test_a_matching_ready_pod_may_serve() -> None:
    assert pod_may_serve(pod(), owner=OWNER, connection=CONNECTION, connection_uid=UID)
    assert pod_bridge_url(pod()) == "http://127.0.0.9:8080/mcp"


@pytest.mark.parametrize(
    "change",
    [
        {
            "metadata__labels": {
                LABEL_APP_NAME: APP_NAME_CONNECTION,
                LABEL_OWNER: "uother",
                LABEL_CONNECTION: CONNECTION,
            }
        },
        {
            "metadata__labels": {
                LABEL_APP_NAME: APP_NAME_CONNECTION,
                LABEL_OWNER: OWNER,
                LABEL_CONNECTION: "other",
            }
        },
        {"metadata__labels": {LABEL_OWNER: OWNER, LABEL_CONNECTION: CONNECTION}},
        {"metadata__labels": None},
        {"metadata__ownerReferences": [{"kind": KIND, "name": CONNECTION, "uid": "another-uid"}]},
        {"metadata__ownerReferences": None},
        {"metadata__deletionTimestamp": "2026-01-01T00:01:00Z"},
        {"status__phase": "Pending"},
        {"status__podIP": None},
        {"status__conditions": [{"type": "Ready", "status": "False"}]},
        {"status__conditions": None},
    ],
)
def test_any_mismatch_means_never_routed(change: dict[str, Any]) -> None:
    assert not pod_may_serve(pod(**change), owner=OWNER, connection=CONNECTION, connection_uid=UID)


def test_select_pod_ignores_impostors_even_at_the_expected_name() -> None:
    impostor = pod()
    impostor["metadata"]["labels"][LABEL_OWNER] = "uintruder"
    assert select_pod([impostor], owner=OWNER, connection=CONNECTION, connection_uid=UID) is None
    good = pod(metadata__name="other-name", status__podIP="127.0.0.10")
    chosen = select_pod([impostor, good], owner=OWNER, connection=CONNECTION, connection_uid=UID)
    assert chosen is good


@given(
    owner=st.text(min_size=0, max_size=30),
    connection=st.text(min_size=0, max_size=70),
)
def test_labels_must_match_exactly(owner: str, connection: str) -> None:
    candidate = copy.deepcopy(pod())
    expected = owner == OWNER and connection == CONNECTION
    assert (
        pod_may_serve(candidate, owner=owner, connection=connection, connection_uid=UID) is expected
    )


def test_qualified_names() -> None:
    assert naming.qualified_name("work", "core_list_projects") == "work__core_list_projects"
    assert naming.split_name("work__core_list_projects") == ("work", "core_list_projects")
    # A tool name may itself contain "__": the first separator ends the slug.
    assert naming.split_name("work__a__b") == ("work", "a__b")
    assert naming.qualified_name("a" * 22, "t" * 41) is None  # 65 characters


@pytest.mark.parametrize(
    "name",
    [
        "",
        "work",
        "work__",
        "__tool",
        "Work__tool",  # no case folding
        "w\u043erk__tool",  # Cyrillic o
        "../work__tool",
        "work/../x__tool",
        "work___tool_" + "x" * 60,
        "work__tool\n",
        " work__tool",
        "work__tool ",
        "w" * 23 + "__tool",  # slug too long
        "9work__tool",
    ],
)
def test_odd_names_are_not_qualified_names(name: str) -> None:
    parsed = naming.split_name(name)
    if parsed is not None:
        slug, tool = parsed
        assert naming.qualified_name(slug, tool) == name
        assert slug.islower()
        assert slug.isascii()
    else:
        assert parsed is None


@given(st.text(max_size=80))
def test_split_name_round_trips_or_refuses(name: str) -> None:
    parsed = naming.split_name(name)
    if parsed is not None:
        assert naming.qualified_name(*parsed) == name
