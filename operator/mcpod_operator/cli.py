"""Command line entry point for mcpod-operator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from mcpod_operator.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcpod-operator",
        description=(
            "Reconcile McpConnections into one pod each: status, idle scale-to-zero, wake on "
            "demand, recycle on change. Settings come from MCPOD_* environment variables "
            "(see operator/README.md); these flags override some of them."
        ),
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        metavar="NAME",
        help="watch this namespace (repeatable; overrides MCPOD_NAMESPACE)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument(
        "--no-leader-election",
        action="store_true",
        help="reconcile at once, without holding the Lease (a single replica only)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the settings, print them (without the routing key) and exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log kopf's own messages")
    return parser


def describe(settings: Settings) -> str:
    r = settings.resources
    scope = "*" if settings.all_namespaces else ",".join(settings.namespaces)
    return "\n".join(
        [
            f"namespaces: {scope}",
            f"connection image: {settings.connection_image}:{settings.server_version}",
            f"idle timeout: {settings.idle_timeout}",
            f"routing key id: {settings.routing_key_id}",
            f"pod resources: cpu {r.cpu_request or '-'}/{r.cpu_limit or '-'}, "
            f"memory {r.memory_request or '-'}/{r.memory_limit or '-'}",
            f"workers: {settings.workers}",
            "health endpoint: "
            + (
                f"{settings.health_listen[0]}:{settings.health_listen[1]}/healthz"
                if settings.health_listen
                else "off"
            ),
            f"leader election: {'on' if settings.leader_election else 'off'}"
            + (
                f" (lease {settings.lease_namespace}/{settings.lease_name})"
                if settings.leader_election
                else ""
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.no_leader_election:
        environ["MCPOD_LEADER_ELECTION"] = "false"
    try:
        settings = load_settings(
            environ,
            namespaces=tuple(args.namespace or ()),
            all_namespaces=args.all_namespaces,
        )
    except SettingsError as error:
        parser.exit(2, f"mcpod-operator: error: {error}\n")
    if args.check:
        print(describe(settings))
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from mcpod_operator.runner import run_operator

    return asyncio.run(run_operator(settings, verbose=args.verbose))


if __name__ == "__main__":
    sys.exit(main())
