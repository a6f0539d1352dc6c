"""The bridge's settings, the child's argv and env, redaction, and the elicitation message."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from mcpod_bridge.mcp_server import ELICITATION_HINT, explain_elicitation_failure
from mcpod_bridge.redaction import REDACTED, RedactingFilter, Redactor
from mcpod_bridge.settings import ConfigError, load_settings
from mcpod_bridge.upstream_command import (
    IMAGE_UPSTREAM_DIR,
    default_upstream_dir,
    upstream_argv,
    upstream_command,
    upstream_env,
)
from mcpod_common.vocabulary import DOMAINS

PAT = "rawPATsentinel0123456789"
TOKEN = "t" * 64
BASE = {"MCPOD_ORGANIZATION": "contoso", "MCPOD_PAT": PAT, "MCPOD_BRIDGE_TOKEN": TOKEN}


def settings(**env: str) -> Any:
    return load_settings({**BASE, **env})


def test_defaults() -> None:
    s = settings()
    assert s.domains == DOMAINS
    assert (s.host, s.port) == ("0.0.0.0", 8080)  # noqa: S104 - the default, not a bind
    assert not s.policy.read_only
    assert s.call_timeout == 60
    assert s.upstream_command is None
    assert PAT not in repr(s)
    assert TOKEN not in repr(s)
    assert s.pat.reveal() == PAT


def test_all_settings() -> None:
    s = settings(
        MCPOD_DOMAINS=" core  work work ",
        MCPOD_READ_ONLY="TRUE",
        MCPOD_TOOLS_ALLOW="wit_*",
        MCPOD_TOOLS_DENY="*_write",
        MCPOD_DEFAULT_PROJECT="Fabrikam Web",
        MCPOD_DEFAULT_TEAM="Blue",
        MCPOD_LISTEN="[::1]:9090",
        MCPOD_UPSTREAM_COMMAND="node --max-old-space-size=256 '/opt/x y/index.js'",
        MCPOD_CALL_TIMEOUT="1m30s",
        MCPOD_MAX_BODY_BYTES="1024",
        MCPOD_LOG_LEVEL="DEBUG",
    )
    assert s.domains == ("core", "work")
    assert s.policy.read_only
    assert s.policy.allow == ("wit_*",)
    assert s.policy.deny == ("*_write",)
    assert (s.default_project, s.default_team) == ("Fabrikam Web", "Blue")
    assert (s.host, s.port) == ("::1", 9090)
    assert s.upstream_command == ("node", "--max-old-space-size=256", "/opt/x y/index.js")
    assert s.call_timeout == 90
    assert s.max_body_bytes == 1024
    assert s.log_level == "debug"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MCPOD_ORGANIZATION": " "}, "MCPOD_ORGANIZATION is required"),
        ({"MCPOD_ORGANIZATION": "-bad"}, "not an organization name"),
        ({"MCPOD_ORGANIZATION": "a" * 51}, "not an organization name"),
        ({"MCPOD_DOMAINS": "core,work"}, "comma-joined"),
        ({"MCPOD_DOMAINS": "core mcp-apps"}, "unknown domain"),
        ({"MCPOD_DOMAINS": "CORE"}, "unknown domain"),
        ({"MCPOD_READ_ONLY": "1"}, "expected 'true' or 'false'"),
        ({"MCPOD_TOOLS_ALLOW": "a b"}, "invalid tool name"),
        ({"MCPOD_TOOLS_DENY": ","}, "empty entry"),
        ({"MCPOD_PAT": ""}, "MCPOD_PAT is required"),
        ({"MCPOD_PAT": "two words"}, "whitespace"),
        ({"MCPOD_BRIDGE_TOKEN": "short"}, "at least 16"),
        ({"MCPOD_LISTEN": "localhost"}, "host:port"),
        ({"MCPOD_LISTEN": "0.0.0.0:70000"}, "out of range"),
        ({"MCPOD_LISTEN": "0.0.0.0:0"}, "out of range"),
        ({"MCPOD_CALL_TIMEOUT": "10"}, "invalid duration"),
        ({"MCPOD_CALL_TIMEOUT": "0s"}, "longer than zero"),
        ({"MCPOD_SHUTDOWN_GRACE": "-1s"}, "invalid duration"),
        ({"MCPOD_MAX_BODY_BYTES": "1e6"}, "positive number of bytes"),
        ({"MCPOD_MAX_BODY_BYTES": "0"}, "positive number of bytes"),
        ({"MCPOD_LOG_LEVEL": "loud"}, "MCPOD_LOG_LEVEL"),
        ({"MCPOD_DEFAULT_PROJECT": "a\nb"}, "control characters"),
        ({"MCPOD_UPSTREAM_COMMAND": 'node "unclosed'}, "MCPOD_UPSTREAM_COMMAND"),
    ],
)
def test_bad_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        settings(**env)
    assert PAT not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_bad_pat_is_not_echoed() -> None:
    secret = "secret with space"
    with pytest.raises(ConfigError) as caught:
        settings(MCPOD_PAT=secret)
    assert secret not in str(caught.value)


def test_argv_carries_no_secret() -> None:
    s = settings(MCPOD_DOMAINS="core wiki")
    command = upstream_command(s, "/opt/mcpod/upstream")
    assert command == ("node", "/opt/mcpod/upstream/node_modules/@azure-devops/mcp/dist/index.js")
    argv = upstream_argv(s, command)
    assert argv[2:] == ["contoso", "-a", "pat", "-t", "mcpod-pat", "-d", "core", "wiki"]
    assert PAT not in " ".join(argv)
    custom = settings(MCPOD_UPSTREAM_COMMAND="python3 fake.py")
    assert upstream_argv(custom, upstream_command(custom, "/unused"))[:3] == [
        "python3",
        "fake.py",
        "contoso",
    ]


def test_child_env_is_minimal() -> None:
    s = settings(
        MCPOD_DEFAULT_PROJECT="P", NODE_EXTRA_CA_CERTS="/ca.pem", MCPOD_LOG_LEVEL="warning"
    )
    parent = {
        "PATH": "/bin",
        "HOME": "/root",
        "MCPOD_PAT": PAT,
        "MCPOD_BRIDGE_TOKEN": TOKEN,
        "AWS_SECRET": "x",
        "LANG": "C.UTF-8",
    }
    env = upstream_env(s, parent, "/scratch")
    assert env == {
        "PATH": "/bin",
        "HOME": "/scratch",
        "TMPDIR": "/scratch",
        "LOG_LEVEL": "warn",
        "LANG": "C.UTF-8",
        "PERSONAL_ACCESS_TOKEN": base64.b64encode(f":{PAT}".encode()).decode(),
        "ado_mcp_project": "P",
        "NODE_EXTRA_CA_CERTS": "/ca.pem",
    }


def test_default_upstream_dir() -> None:
    home = "/home/u"
    assert default_upstream_dir({"MCPOD_UPSTREAM_DIR": "/x"}, lambda _: True, home) == "/x"
    assert default_upstream_dir({}, lambda p: p == IMAGE_UPSTREAM_DIR, home) == IMAGE_UPSTREAM_DIR
    assert default_upstream_dir({}, lambda _: False, home) == "/home/u/.cache/mcpod/upstream"
    assert (
        default_upstream_dir({"XDG_CACHE_HOME": "/c"}, lambda _: False, home) == "/c/mcpod/upstream"
    )


def test_redactor_replaces_every_secret() -> None:
    redact = Redactor([PAT, "abc", ""])
    assert redact(f"x {PAT} y abc {PAT}") == f"x {REDACTED} y {REDACTED} {REDACTED}"
    assert redact("nothing here") == "nothing here"


def test_redacting_filter_covers_args_and_exceptions() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "got %s", (PAT,), None)
    try:
        raise RuntimeError(f"boom {PAT}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter(Redactor([PAT])).filter(record)
    assert PAT not in record.getMessage()
    assert "boom" in record.getMessage()
    assert record.exc_info is None


def test_elicitation_failure_is_explained() -> None:
    failed = {
        "content": [{"type": "text", "text": "Error: Client does not support form elicitation."}],
        "isError": True,
    }
    explained = explain_elicitation_failure(failed)
    assert explained["isError"] is True
    text = explained["content"][0]["text"]
    assert text.startswith(ELICITATION_HINT)
    assert "does not support form elicitation" in text
    ok = {"content": [{"type": "text", "text": "does not support elicitation"}]}
    assert explain_elicitation_failure(ok) is ok
    other = {"content": [{"type": "text", "text": "getaddrinfo ENOTFOUND"}], "isError": True}
    assert explain_elicitation_failure(other) is other
