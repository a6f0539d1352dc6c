"""``mcpod-gateway admin …``: bootstrap and automation (also via ``kubectl exec``).

Same settings as the server.  Every action is recorded in ``admin_events`` with
actor ``cli``.  Output contract: ``create-user`` prints the new user id as the
last line; ``create-token`` prints the token (once) as the last line.

Another feature adds a command by appending an :class:`AdminCommand` to
:data:`ADMIN_COMMANDS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from . import accounts, migrations
from .admin_audit import CLI_ACTOR, record_admin_event
from .auth.api_tokens import MAX_EXPIRY_DAYS, create_api_token
from .connections.admin_command import configure_create_connection, run_create_connection
from .db import create_engine, create_sessionmaker
from .models import User
from .models.base import utcnow
from .names import InvalidNameError, clean_name
from .settings import BackendKind, Settings


class AdminError(Exception):
    """A clear, user-facing failure; exit status 1."""


Runner = Callable[[argparse.Namespace, Settings, AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class AdminCommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Runner


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_EXPIRY_DAYS:
        raise argparse.ArgumentTypeError(f"must be a number of days from 1 to {MAX_EXPIRY_DAYS}")
    return int(value)


def _name(value: str) -> str:
    try:
        return clean_name(value, what="the name")
    except InvalidNameError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def _user(db: AsyncSession, user_id: str) -> User:
    try:
        return await accounts.get_user(db, user_id)
    except accounts.UnknownUserError as exc:
        raise AdminError(f"{exc} (see: mcpod-gateway admin list-users)") from None


# ---- commands ----


def _configure_create_user(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, type=_name, help="display name (1-64 characters)")
    p.add_argument(
        "--invite-days", type=_days, default=7, help="days the passkey enrolment link stays valid"
    )


async def _create_user(args: argparse.Namespace, settings: Settings, db: AsyncSession) -> None:
    user = await accounts.create_user(db, display_name=args.name)
    _invite, token = await accounts.create_invite(
        db, user_id=user.id, valid_for=timedelta(days=args.invite_days)
    )
    record_admin_event(
        db, actor=CLI_ACTOR, action="user.create", target_user_id=user.id, detail=args.name
    )
    await db.commit()
    print(f"created user {args.name!r}")
    print(f"passkey enrolment link (single use): {settings.public_url}/signup?invite={token}")
    print(user.id)


def _configure_create_token(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", required=True, help="user id")
    p.add_argument("--name", required=True, type=_name, help="token name (1-64 characters)")
    p.add_argument("--expires-in-days", type=_days, default=None, help="default: never")


async def _create_token(args: argparse.Namespace, settings: Settings, db: AsyncSession) -> None:
    user = await _user(db, args.user)
    expires_at = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    row, token = await create_api_token(db, user_id=user.id, name=args.name, expires_at=expires_at)
    record_admin_event(
        db, actor=CLI_ACTOR, action="token.create", target_user_id=user.id, detail=args.name
    )
    await db.commit()
    print(f"created token {args.name!r} (id {row.id}) for {user.id}; it is shown only once:")
    print(token)


def _configure_create_invite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", default=None, help="enrol a passkey for this existing user")
    p.add_argument("--days", type=_days, default=7, help="days the link stays valid")


async def _create_invite(args: argparse.Namespace, settings: Settings, db: AsyncSession) -> None:
    user_id = (await _user(db, args.user)).id if args.user else None
    _invite, token = await accounts.create_invite(
        db, user_id=user_id, valid_for=timedelta(days=args.days)
    )
    record_admin_event(db, actor=CLI_ACTOR, action="invite.create", target_user_id=user_id)
    await db.commit()
    print(f"{settings.public_url}/signup?invite={token}")


def _configure_nothing(_p: argparse.ArgumentParser) -> None:
    return


async def _list_users(args: argparse.Namespace, settings: Settings, db: AsyncSession) -> None:
    rows = await accounts.user_summaries(db)
    record_admin_event(db, actor=CLI_ACTOR, action="user.list", target_user_id=None)
    await db.commit()
    print(f"{'ID':<22} {'PASSKEYS':>8} {'TOKENS':>6}  {'CREATED':<20} NAME")
    for user, passkeys, tokens in rows:
        created = user.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{user.id:<22} {passkeys:>8} {tokens:>6}  {created:<20} {user.display_name}")


async def delete_user_connections(settings: Settings, db: AsyncSession, user_id: str) -> None:
    from .connections.factory import build_backend
    from .keys import resolve_keys
    from .mcp.settings import McpSettings

    bind = db.bind
    assert isinstance(bind, AsyncEngine)
    backend = await build_backend(
        settings, resolve_keys(settings), create_sessionmaker(bind), McpSettings()
    )
    await backend.start()
    try:
        for view in await backend.list_connections(user_id):
            await backend.delete_connection(user_id, view.slug)
    finally:
        await backend.close()


def _configure_delete_user(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", required=True, help="user id")


async def _delete_user(args: argparse.Namespace, settings: Settings, db: AsyncSession) -> None:
    user = await _user(db, args.user)
    if settings.backend is BackendKind.KUBERNETES:
        # The user's McpConnections live in the cluster, not in our database: delete
        # them (their PAT Secrets and pods follow by owner reference).  Local
        # connections are rows, removed with the user below.
        await delete_user_connections(settings, db, user.id)
    await accounts.delete_user(db, user_id=user.id)
    record_admin_event(
        db, actor=CLI_ACTOR, action="user.delete", target_user_id=user.id, detail=user.display_name
    )
    await db.commit()
    print(f"deleted user {user.id}: their connections, passkeys, sessions and tokens are gone")


ADMIN_COMMANDS: list[AdminCommand] = [
    AdminCommand(
        "create-user",
        "create a user; prints an enrolment link, then the user id",
        _configure_create_user,
        _create_user,
    ),
    AdminCommand(
        "create-token",
        "create an API token; prints it once, as the last line",
        _configure_create_token,
        _create_token,
    ),
    AdminCommand(
        "create-invite",
        "create a single-use sign-up (or enrolment) link",
        _configure_create_invite,
        _create_invite,
    ),
    AdminCommand(
        "list-users",
        "list users with their passkey and token counts",
        _configure_nothing,
        _list_users,
    ),
    AdminCommand(
        "create-connection",
        "create a connection for a user; the PAT is read from standard input",
        configure_create_connection,
        run_create_connection,
    ),
    AdminCommand(
        "delete-user",
        "delete a user and revoke everything they hold",
        _configure_delete_user,
        _delete_user,
    ),
]


def add_admin_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = subparsers.add_parser("admin", help="administrative commands")
    commands = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    for command in ADMIN_COMMANDS:
        parser = commands.add_parser(command.name, help=command.help, description=command.help)
        command.configure(parser)
        parser.set_defaults(admin_run=command.run)


async def run_admin(args: argparse.Namespace, settings: Settings) -> None:
    engine = create_engine(settings.effective_database_url)
    try:
        await migrations.upgrade(engine)
        maker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        async with maker() as db:
            await args.admin_run(args, settings, db)
    finally:
        await engine.dispose()
