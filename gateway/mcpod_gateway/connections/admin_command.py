"""``mcpod-gateway admin create-connection``: the PAT is read from standard input, never argv.

    echo "$PAT" | mcpod-gateway admin create-connection --user ID --slug work --org contoso \
        [--domains "core work"] [--read-only]

Works on either backend (``MCPOD_BACKEND``) and is recorded in ``admin_events``.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ..admin_audit import CLI_ACTOR, record_admin_event
from ..db import create_sessionmaker
from ..keys import resolve_keys
from ..mcp.settings import McpSettings
from ..settings import Settings
from .factory import build_backend
from .model import ConnectionProblemError
from .validation import ConnectionInputError, build_spec, check_pat


def configure_create_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", required=True, help="user id (owner of the connection)")
    p.add_argument("--slug", required=True, help="connection name, the tool prefix (e.g. work)")
    p.add_argument("--org", required=True, help="Azure DevOps organization name")
    p.add_argument(
        "--domains", default="", help='space-separated domains, e.g. "core work" (default: all)'
    )
    p.add_argument("--read-only", action="store_true", help="only tools that cannot change data")
    p.epilog = "The personal access token is read from standard input (one line)."


def read_pat_from_stdin() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Personal access token (input hidden): ").strip()
    return sys.stdin.readline().strip()


async def run_create_connection(
    args: argparse.Namespace, settings: Settings, db: AsyncSession
) -> None:
    from ..admin_cli import AdminError, _user

    user = await _user(db, args.user)
    try:
        spec = build_spec(
            slug=args.slug,
            organization=args.org,
            domains=args.domains.split(),
            read_only=args.read_only,
        )
    except ConnectionInputError as exc:
        raise AdminError(
            "; ".join(f"--{k.replace('_', '-')}: {v}" for k, v in exc.problems.items())
        ) from None
    pat = read_pat_from_stdin()
    if (why := check_pat(pat)) is not None:
        raise AdminError(f"standard input: {why}")
    bind = db.bind
    assert isinstance(bind, AsyncEngine)
    backend = await build_backend(
        settings, resolve_keys(settings), create_sessionmaker(bind), McpSettings()
    )
    await backend.start()
    try:
        view = await backend.create_connection(user.id, spec, pat)
    except ConnectionProblemError as exc:
        raise AdminError(str(exc)) from None
    finally:
        await backend.close()
    record_admin_event(
        db, actor=CLI_ACTOR, action="connection.create", target_user_id=user.id, detail=spec.slug
    )
    await db.commit()
    print(f"created connection {spec.slug!r} ({view.name}) for {user.id}")
    print(spec.slug)
