"""``mcpod-gateway``: ``serve`` starts the server; ``admin …`` manages users and tokens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from .admin_cli import AdminError, add_admin_parser, run_admin
from .db import DatabaseUrlError, check_database_url
from .keys import KeyGuardError
from .settings import Settings, split_listen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcpod-gateway",
        description="mcpod gateway. Settings come from MCPOD_* environment variables "
        "(see gateway/README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the gateway server")
    serve.add_argument("--listen", help="host:port (overrides MCPOD_LISTEN)")
    add_admin_parser(sub)
    return parser


def _settings_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = "".join(str(p) for p in err.get("loc", ()))
        parts.append(f"MCPOD_{field.upper()}: {err.get('msg')}")
    return "; ".join(parts)


def _serve(settings: Settings) -> None:
    import uvicorn

    from .app import create_app

    host, port = split_listen(settings.listen)
    app = create_app(settings)
    logging.getLogger(__name__).info("portal: %s/", settings.public_url)
    # Forwarded headers are handled inside the app, from MCPOD_TRUSTED_PROXIES only.
    uvicorn.run(app, host=host, port=port, proxy_headers=False, log_level=settings.log_level)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        overrides = {"listen": args.listen} if getattr(args, "listen", None) else {}
        settings = Settings(**overrides)
        check_database_url(settings.effective_database_url)
        if args.command == "serve":
            _serve(settings)
        else:
            asyncio.run(run_admin(args, settings))
    except ValidationError as exc:
        print(f"mcpod-gateway: invalid setting: {_settings_error(exc)}", file=sys.stderr)
        return 2
    except (KeyGuardError, DatabaseUrlError) as exc:
        print(f"mcpod-gateway: {exc}", file=sys.stderr)
        return 2
    except AdminError as exc:
        print(f"mcpod-gateway: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
