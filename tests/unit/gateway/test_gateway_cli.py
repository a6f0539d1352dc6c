"""``mcpod-gateway admin …`` and the key guard of ``serve`` (in-process and as a process)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcpod_common.vocabulary import is_valid_owner
from mcpod_gateway.auth.api_tokens import ApiTokenVerifier, looks_like_api_token
from mcpod_gateway.cli import main
from mcpod_gateway.db import create_engine, create_sessionmaker
from mcpod_gateway.models import AdminEvent
from sqlmodel import select


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, gateway_db_url: str, tmp_path: Path) -> str:
    for name in list(os.environ):
        if name.startswith("MCPOD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MCPOD_DATABASE_URL", gateway_db_url)
    monkeypatch.setenv("MCPOD_DATA_DIR", str(tmp_path))
    return gateway_db_url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["admin", *args])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err


async def verify_token(url: str, token: str) -> str | None:
    engine = create_engine(url)
    try:
        principal = await ApiTokenVerifier(create_sessionmaker(engine), cache_seconds=0).verify(
            token
        )
        return principal.user_id if principal else None
    finally:
        await engine.dispose()


async def admin_events(url: str) -> list[tuple[str, str, str | None]]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as db:
            rows = (await db.exec(select(AdminEvent))).all()
            return [(r.actor, r.action, r.target_user_id) for r in rows]
    finally:
        await engine.dispose()


def test_user_and_token_lifecycle(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create-user", "--name", "Build Bot")
    assert code == 0
    user_id = out[-1]
    assert is_valid_owner(user_id)
    assert any("/signup?invite=" in line for line in out)

    code, out, _ = run(capsys, "create-token", "--user", user_id, "--name", "ci")
    assert code == 0
    token = out[-1]
    assert looks_like_api_token(token)
    assert asyncio.run(verify_token(cli_env, token)) == user_id

    code, out, _ = run(capsys, "list-users")
    assert code == 0
    (line,) = [line for line in out if line.startswith(user_id)]
    assert "Build Bot" in line
    assert line.split()[1:3] == ["0", "1"]
    assert token not in "\n".join(out)

    code, out, _ = run(capsys, "delete-user", "--user", user_id)
    assert code == 0
    assert asyncio.run(verify_token(cli_env, token)) is None
    code, out, _ = run(capsys, "list-users")
    assert not any(line.startswith(user_id) for line in out)

    events = asyncio.run(admin_events(cli_env))
    actions = [(actor, action) for actor, action, _ in events]
    assert ("cli", "user.create") in actions
    assert ("cli", "token.create") in actions
    assert ("cli", "user.delete") in actions
    assert all(token not in repr(e) for e in events)


def test_create_invite_prints_a_single_use_link(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "create-invite", "--days", "2")
    assert code == 0
    assert out[-1].startswith("http://localhost:8000/signup?invite=")
    _, out_user, _ = run(capsys, "create-user", "--name", "Later")
    code, out, _ = run(capsys, "create-invite", "--user", out_user[-1])
    assert code == 0
    assert "/signup?invite=" in out[-1]
    events = asyncio.run(admin_events(cli_env))
    assert [a for _, a, _ in events].count("invite.create") == 2


def test_unknown_user_is_a_clear_error(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ("create-token", "--user", "unobody", "--name", "x"),
        ("delete-user", "--user", "unobody"),
        ("create-invite", "--user", "unobody"),
        ("delete-user", "--user", "x" * 500),
    ):
        code, _, err = run(capsys, *args)
        assert code == 1
        assert "no user with id" in err
        assert "list-users" in err


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "new\nline", "<script>alert(1)</script>", "bell\x07"]
)
def test_bad_names_are_refused_and_nothing_is_stored(
    cli_env: str, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["admin", "create-user", "--name", name])
    assert exited.value.code == 2
    assert "the name must" in capsys.readouterr().err
    code, out, _ = run(capsys, "list-users")
    assert code == 0
    assert len(out) == 1


@pytest.mark.parametrize("days", ["0", "367", "-3", "soon"])
def test_bad_expiry_is_refused(cli_env: str, capsys: pytest.CaptureFixture[str], days: str) -> None:
    _code, out, _ = run(capsys, "create-user", "--name", "Exp")
    with pytest.raises(SystemExit):
        main(["admin", "create-token", "--user", out[-1], "--name", "t", "--expires-in-days", days])
    assert "number of days" in capsys.readouterr().err


def test_bad_database_url_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCPOD_DATABASE_URL", "mysql://db/x")
    assert main(["admin", "list-users"]) == 2
    assert "MCPOD_DATABASE_URL" in capsys.readouterr().err


def test_serve_refuses_to_start_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOD_")}
    env["MCPOD_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "mcpod_gateway.cli", "serve"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "MCPOD_SECRET_KEY is not set" in result.stderr
    assert "MCPOD_DEV=1" in result.stderr


def test_serve_reports_bad_settings_by_name(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPOD_")}
    env.update(MCPOD_DATA_DIR=str(tmp_path), MCPOD_PUBLIC_URL="http://example.com")
    result = subprocess.run(
        [sys.executable, "-m", "mcpod_gateway.cli", "serve"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "MCPOD_PUBLIC_URL" in result.stderr
