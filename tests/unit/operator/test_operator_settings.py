"""Operator settings from the environment: defaults, and a clear error for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcpod_common.vocabulary import IMAGE_CONNECTION
from mcpod_operator.settings import SettingsError, load_settings, parse_namespaces

KEY = "k" * 32
BASE = {"MCPOD_NAMESPACE": "team-a", "MCPOD_ROUTING_KEY": KEY}


def test_defaults() -> None:
    s = load_settings(BASE)
    assert s.namespaces == ("team-a",)
    assert not s.all_namespaces
    assert s.connection_image == IMAGE_CONNECTION
    assert s.server_version == "2.10.0"
    assert s.idle_timeout == "10m"
    assert s.idle_timeout_seconds == 600
    assert s.routing_key == KEY.encode()
    assert s.leader_election
    assert s.lease_namespace == "team-a"
    assert s.resources.memory_limit == "512Mi"
    assert s.resources.cpu_limit is None


def test_routing_key_never_in_repr() -> None:
    assert KEY not in repr(load_settings(BASE))


@pytest.mark.parametrize(
    ("value", "expected", "everywhere"),
    [
        ("a", ("a",), False),
        ("a,b", ("a", "b"), False),
        (" a  b ,c ", ("a", "b", "c"), False),
        ("a,a", ("a",), False),
        ("*", (), True),
    ],
)
def test_namespace_lists(value: str, expected: tuple[str, ...], everywhere: bool) -> None:
    assert parse_namespaces(value) == (expected, everywhere)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MCPOD_NAMESPACE": ""}, "no namespace to watch"),
        ({"MCPOD_NAMESPACE": "Team_A"}, "invalid namespace name"),
        ({"MCPOD_NAMESPACE": "a,*"}, "cannot be combined"),
        ({"MCPOD_ROUTING_KEY": ""}, "routing key is required"),
        ({"MCPOD_ROUTING_KEY": "short"}, "at least 32 bytes"),
        ({"MCPOD_CONNECTION_IMAGE": "mcpod/connection:1.0.0"}, "without a tag"),
        ({"MCPOD_CONNECTION_IMAGE": "mcpod/connection@sha256:abc"}, "without a tag"),
        ({"MCPOD_CONNECTION_IMAGE": "Bad Image"}, "invalid image repository"),
        ({"MCPOD_SERVER_VERSION": "latest"}, "MCPOD_SERVER_VERSION"),
        ({"MCPOD_IDLE_TIMEOUT": "ten minutes"}, "MCPOD_IDLE_TIMEOUT"),
        ({"MCPOD_IDLE_TIMEOUT": "0s"}, "longer than zero"),
        ({"MCPOD_POD_MEMORY_LIMIT": "lots"}, "MCPOD_POD_MEMORY_LIMIT"),
        ({"MCPOD_POD_CPU_REQUEST": "-1"}, "MCPOD_POD_CPU_REQUEST"),
        ({"MCPOD_WORKERS": "many"}, "whole number"),
        ({"MCPOD_WORKERS": "0"}, "from 1 to 256"),
        ({"MCPOD_LEADER_ELECTION": "maybe"}, "true or false"),
        ({"MCPOD_LEASE_NAME": "Bad_Name"}, "MCPOD_LEASE_NAME"),
        ({"MCPOD_LOG_LEVEL": "loud"}, "MCPOD_LOG_LEVEL"),
        ({"MCPOD_RESYNC_INTERVAL": "often"}, "MCPOD_RESYNC_INTERVAL"),
        ({"MCPOD_HEALTH_LISTEN": "8081"}, "MCPOD_HEALTH_LISTEN"),
        ({"MCPOD_HEALTH_LISTEN": "0.0.0.0:99999"}, "MCPOD_HEALTH_LISTEN"),
        ({"MCPOD_HEALTH_LISTEN": "host name:80"}, "MCPOD_HEALTH_LISTEN"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**BASE, **env})


def test_routing_key_is_never_echoed_in_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, "MCPOD_ROUTING_KEY": "s3cr3t-but-short"})
    assert "s3cr3t" not in str(caught.value)


def test_routing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    s = load_settings({"MCPOD_NAMESPACE": "a", "MCPOD_ROUTING_KEY_FILE": str(path)})
    assert s.routing_key == KEY.encode()


def test_routing_key_file_missing(tmp_path: Path) -> None:
    env = {"MCPOD_NAMESPACE": "a", "MCPOD_ROUTING_KEY_FILE": str(tmp_path / "nope")}
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(env)


def test_routing_key_from_both_sources_is_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY)
    with pytest.raises(SettingsError, match="only one"):
        load_settings({**BASE, "MCPOD_ROUTING_KEY_FILE": str(path)})


def test_flags_override_the_environment() -> None:
    s = load_settings(BASE, namespaces=("x", "y"))
    assert s.namespaces == ("x", "y")
    s = load_settings(BASE, all_namespaces=True)
    assert s.all_namespaces
    assert s.namespaces == ()


def test_registry_with_port_is_a_repository_not_a_tag() -> None:
    s = load_settings({**BASE, "MCPOD_CONNECTION_IMAGE": "registry.local:5000/mcpod/connection"})
    assert s.connection_image == "registry.local:5000/mcpod/connection"


def test_quantities_and_none() -> None:
    s = load_settings({**BASE, "MCPOD_POD_CPU_LIMIT": "500m", "MCPOD_POD_MEMORY_LIMIT": "none"})
    assert s.resources.cpu_limit == "500m"
    assert s.resources.memory_limit == ""


def test_routing_key_id_is_stable_and_not_the_key() -> None:
    a = load_settings(BASE)
    b = load_settings(BASE)
    c = load_settings({**BASE, "MCPOD_ROUTING_KEY": "z" * 32})
    assert a.routing_key_id == b.routing_key_id != c.routing_key_id
    assert len(a.routing_key_id) == 8
    assert a.identity != b.identity  # two replicas on one host never share an identity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("0.0.0.0:8081", ("0.0.0.0", 8081)),  # noqa: S104
        ("[::]:8081", ("::", 8081)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_health_listen(value: str, expected: tuple[str, int] | None) -> None:
    assert load_settings({**BASE, "MCPOD_HEALTH_LISTEN": value}).health_listen == expected
