"""The command line: bad flags and settings exit 2 with a clear message, before any I/O."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcpod_operator.cli import main

KEY = "k" * 40
REPO = Path(__file__).resolve().parents[3]
SOURCE = os.pathsep.join(str(REPO / d) for d in ("operator", "common"))


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpod_operator.cli", *args],
        # This tree's code first, whatever the editable install points at.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": SOURCE, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_prints_settings_without_the_key() -> None:
    result = _run("--check", env={"MCPOD_NAMESPACE": "a b", "MCPOD_ROUTING_KEY": KEY})
    assert result.returncode == 0, result.stderr
    assert "namespaces: a,b" in result.stdout
    assert "mcpod/connection:2.10.0" in result.stdout
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--check"], {"MCPOD_ROUTING_KEY": KEY}, "no namespace to watch"),
        (["--check", "-n", "a"], {}, "routing key is required"),
        (["--check", "-n", "Bad!"], {"MCPOD_ROUTING_KEY": KEY}, "invalid namespace"),
        (
            ["--check", "-n", "a"],
            {"MCPOD_ROUTING_KEY": KEY, "MCPOD_IDLE_TIMEOUT": "soon"},
            "MCPOD_IDLE_TIMEOUT",
        ),
        (["-n", "a", "--all-namespaces"], {"MCPOD_ROUTING_KEY": KEY}, "not allowed with"),
        (["--bogus"], {}, "unrecognized arguments"),
    ],
)
def test_bad_input_exits_2(args: list[str], env: dict[str, str], message: str) -> None:
    result = _run(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_flags_override_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPOD_NAMESPACE", "from-env")
    monkeypatch.setenv("MCPOD_ROUTING_KEY", KEY)
    assert main(["--check", "-A", "--no-leader-election"]) == 0
    out = capsys.readouterr().out
    assert "namespaces: *" in out
    assert "leader election: off" in out
