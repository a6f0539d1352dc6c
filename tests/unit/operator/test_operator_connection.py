"""Parsing a McpConnection body and the "wants a pod" rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from mcpod_common import vocabulary as v
from mcpod_operator.connection import InvalidConnectionError, Want, parse_connection
from operator_factories import CREATED, BodyFactory


def test_parse_all_fields(connection_body: BodyFactory) -> None:
    c = parse_connection(
        connection_body(
            domains=["core"],
            readOnly=True,
            tools={"allow": ["a"], "deny": ["b"]},
            defaults={"project": "P", "team": "T"},
            idleTimeout="5m",
            suspended=True,
            serverVersion="2.9.0",
            annotations={
                v.ANNOTATION_LAST_ACTIVITY: "2026-01-01T12:03:00Z",
                v.ANNOTATION_CREDENTIALS_ROTATED: "7",
            },
        )
    )
    assert c.key == ("ns", "c-1")
    assert c.domains == ("core",)
    assert c.read_only
    assert (c.tools_allow, c.tools_deny) == (("a",), ("b",))
    assert (c.default_project, c.default_team) == ("P", "T")
    assert c.idle_timeout == "5m"
    assert c.suspended
    assert c.server_version == "2.9.0"
    assert c.last_activity == CREATED + timedelta(minutes=3)
    assert c.credentials_rotated == "7"


@pytest.mark.parametrize(
    ("activity", "timeout", "minutes_later", "want"),
    [
        (None, "10m", 5, Want.POD),
        (None, "10m", 10, Want.IDLE),
        (None, "10m", 11, Want.IDLE),
        ("2026-01-01T12:08:00Z", "10m", 15, Want.POD),
        ("2026-01-01T12:08:00Z", "10m", 18, Want.IDLE),
        ("2026-01-01T12:08:00+02:00", "10m", 5, Want.POD),  # earlier than creation: creation wins
        ("2026-01-01T12:08:00.123456Z", "1h", 60, Want.POD),
        ("not a time", "10m", 5, Want.POD),  # a garbled stamp counts as no activity
        ("not a time", "10m", 11, Want.IDLE),
        (None, None, 9, Want.POD),  # the operator's default (10m)
    ],
)
def test_wants_a_pod(
    connection_body: BodyFactory,
    activity: str | None,
    timeout: str | None,
    minutes_later: int,
    want: Want,
) -> None:
    annotations = {v.ANNOTATION_LAST_ACTIVITY: activity} if activity else {}
    c = parse_connection(connection_body(annotations=annotations, idleTimeout=timeout))
    assert c.want("10m", CREATED + timedelta(minutes=minutes_later)) is want


def test_suspended_wins_over_activity(connection_body: BodyFactory) -> None:
    c = parse_connection(
        connection_body(
            suspended=True, annotations={v.ANNOTATION_LAST_ACTIVITY: "2026-01-01T12:00:00Z"}
        )
    )
    assert c.want("10m", CREATED) is Want.SUSPENDED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owner": None}, "spec.owner is required"),
        ({"owner": "Alice"}, "not a valid label value"),
        ({"slug": "9x"}, "not a valid slug"),
        ({"organization": "-bad-"}, "organization"),
        ({"credentials": {}}, "secretRef.name is required"),
        ({"domains": ["core", "everything"]}, "unknown domain"),
        ({"domains": "core"}, "list of strings"),
        ({"idleTimeout": "forever"}, "spec.idleTimeout"),
        ({"idleTimeout": "0s"}, "longer than zero"),
        ({"tools": {"allow": [1]}}, "list of strings"),
    ],
)
def test_invalid_specs_say_why(
    connection_body: BodyFactory, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConnectionError, match=message):
        parse_connection(connection_body(**change))


def test_name_too_long_for_a_label(connection_body: BodyFactory) -> None:
    with pytest.raises(InvalidConnectionError, match="longer than 63"):
        parse_connection(connection_body(name="c" * 64))
