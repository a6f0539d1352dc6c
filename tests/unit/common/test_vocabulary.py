"""The shared vocabulary: name rules and durations, checked against the CRD's schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcpod_common import vocabulary as v
from mcpod_common.bridge_token import derive_bridge_token, tokens_match

CRD = Path(__file__).resolve().parents[3] / "crds" / "mcpconnections.mcpod.dev.yaml"


def crd_spec() -> dict[str, Any]:
    doc = yaml.safe_load(CRD.read_text())
    props: dict[str, Any] = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    return props["spec"]["properties"]  # type: ignore[no-any-return]


def test_crd_names_match_the_vocabulary() -> None:
    doc = yaml.safe_load(CRD.read_text())
    names = doc["spec"]["names"]
    assert doc["metadata"]["name"] == v.CRD_NAME
    assert doc["spec"]["group"] == v.GROUP
    assert doc["spec"]["versions"][0]["name"] == v.VERSION
    assert (names["kind"], names["plural"], names["singular"]) == (v.KIND, v.PLURAL, v.SINGULAR)
    assert names["shortNames"] == [v.SHORT_NAME]
    assert names["categories"] == [v.CATEGORY]


def test_crd_patterns_and_domains_match_the_vocabulary() -> None:
    spec = crd_spec()
    assert spec["owner"]["pattern"] == v.OWNER_PATTERN
    assert spec["slug"]["pattern"] == v.SLUG_PATTERN
    assert spec["organization"]["pattern"] == v.ORGANIZATION_PATTERN
    assert spec["idleTimeout"]["pattern"] == v.DURATION_PATTERN
    assert tuple(spec["domains"]["items"]["enum"]) == v.DOMAINS


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("u-1", True),
        ("a", True),
        ("A", False),
        ("-a", False),
        ("a-", False),
        ("a" * 63, True),
        ("a" * 64, False),
    ],
)
def test_owner_rule(value: str, ok: bool) -> None:
    assert v.is_valid_owner(value) is ok
    assert bool(re.fullmatch(v.OWNER_PATTERN, value)) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("work", True),
        ("w", True),
        ("w-2", True),
        ("2w", False),
        ("Work", False),
        ("a__b", False),
        ("a" * 23, False),
    ],
)
def test_slug_rule(value: str, ok: bool) -> None:
    assert v.is_valid_slug(value) is ok


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5)]
)
def test_parse_duration(value: str, seconds: float) -> None:
    assert v.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10", "ten minutes", "1d", "-5m", "5 m"])
def test_bad_durations_name_the_accepted_form(value: str) -> None:
    with pytest.raises(ValueError, match="use forms like 90s, 10m or 1h30m"):
        v.parse_duration(value)


def test_validate_domains() -> None:
    assert v.validate_domains(["core", "work"]) == ["core", "work"]
    with pytest.raises(ValueError, match=r"unknown domain\(s\) 'core,work'"):
        v.validate_domains(["core,work"])


def test_bridge_token_is_deterministic_keyed_and_uid_bound() -> None:
    key = b"k" * 32
    token = derive_bridge_token(key, "uid-1")
    assert token == derive_bridge_token(key, "uid-1")
    assert token != derive_bridge_token(key, "uid-2")
    assert token != derive_bridge_token(b"x" * 32, "uid-1")
    assert len(token) == 64
    assert tokens_match(token, derive_bridge_token(key, "uid-1"))
    assert not tokens_match(token, token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1")


@pytest.mark.parametrize(("key", "uid"), [(b"short", "u"), (b"k" * 32, "")])
def test_bridge_token_refuses_weak_inputs(key: bytes, uid: str) -> None:
    with pytest.raises(ValueError, match=r"routing key|UID"):
        derive_bridge_token(key, uid)
