"""`mcpod-bridge`: settings from `MCPOD_*` env vars, then serve until SIGTERM or the child dies.

Exit codes: 0 after a requested shutdown, 1 when the upstream process died or never became
ready (so Kubernetes restarts the container), 2 for a configuration error.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Only light modules here: the upstream is spawned before the SDK and the web server are
# imported (see mcpod_bridge.spawn).
from mcpod_bridge.redaction import RedactingFilter, Redactor
from mcpod_bridge.settings import ENV_UPSTREAM_COMMAND, BridgeSettings, ConfigError, load_settings
from mcpod_bridge.spawn import UpstreamSpec, spawn_upstream
from mcpod_bridge.upstream_command import (
    default_upstream_dir,
    encode_pat,
    upstream_argv,
    upstream_command,
    upstream_env,
)

logger = logging.getLogger("mcpod.bridge")

EXIT_OK = 0
EXIT_UPSTREAM_FAILED = 1
EXIT_CONFIG = 2


def configure_logging(level: str, redact: Redactor) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # On the handler, not a logger: records propagated from every library pass through it.
    handler.addFilter(RedactingFilter(redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if level != "debug":
        # The SDK's stateless transport logs every request at INFO.
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)


def resolve_command(settings: BridgeSettings) -> tuple[str, ...]:
    """The upstream command, checking that the default install is really there."""
    upstream_dir = default_upstream_dir(os.environ, os.path.isdir, str(Path.home()))
    command = upstream_command(settings, upstream_dir)
    if settings.upstream_command is None and not Path(command[-1]).is_file():
        raise ConfigError(
            f"@azure-devops/mcp is not installed at {command[-1]}: run `scripts/setup.sh run`, "
            f"set MCPOD_UPSTREAM_DIR, or set {ENV_UPSTREAM_COMMAND}"
        )
    return command


def prepare_scratch(settings: BridgeSettings) -> tuple[str, bool]:
    """The child's HOME and cwd: the configured dir (an emptyDir in the pod) or a fresh one."""
    if settings.scratch_dir:
        path = Path(settings.scratch_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"MCPOD_SCRATCH_DIR: cannot create {path}: {exc.strerror}") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"MCPOD_SCRATCH_DIR: {path} is not writable")
        return str(path), False
    return tempfile.mkdtemp(prefix="mcpod-bridge-"), True


USAGE = """usage: mcpod-bridge [--help | --version]

Runs @azure-devops/mcp over stdio and serves it as MCP Streamable HTTP on POST /mcp
(bearer bridge token), with GET /healthz and GET /readyz for probes.  All settings are
environment variables:

  MCPOD_ORGANIZATION     Azure DevOps organization (required)
  MCPOD_PAT              the raw PAT (required; reaches the upstream only as its env)
  MCPOD_BRIDGE_TOKEN     the bearer token callers of /mcp present (required, >= 16 chars)
  MCPOD_DOMAINS          space-separated upstream domains (default: all)
  MCPOD_READ_ONLY        true | false (default false)
  MCPOD_TOOLS_ALLOW      comma-separated tool names or globs (default: all)
  MCPOD_TOOLS_DENY       comma-separated tool names or globs; deny wins
  MCPOD_DEFAULT_PROJECT  default project for tools that would ask for one
  MCPOD_DEFAULT_TEAM     default team for tools that would ask for one
  MCPOD_LISTEN           host:port (default 0.0.0.0:8080)
  MCPOD_UPSTREAM_COMMAND the upstream command without arguments (default: node with the
                         installed @azure-devops/mcp, found in MCPOD_UPSTREAM_DIR,
                         /opt/mcpod/upstream or ~/.cache/mcpod/upstream)
  MCPOD_SCRATCH_DIR      the upstream's HOME and cwd (default: a fresh temporary dir)
  MCPOD_CALL_TIMEOUT     per-call timeout (default 60s)
  MCPOD_STARTUP_TIMEOUT  how long the upstream may take to answer initialize (default 60s)
  MCPOD_SHUTDOWN_GRACE   how long in-flight calls may finish after SIGTERM (default 10s)
  MCPOD_MAX_BODY_BYTES   request body limit (default 4194304)
  MCPOD_LOG_LEVEL        debug | info | warning | error (default info)

Exit codes: 0 after SIGTERM, 1 when the upstream died or never became ready, 2 for bad settings.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--help"], ["-h"]):
        print(USAGE, end="")
        return EXIT_OK
    if args == ["--version"]:
        from mcpod_bridge import __version__

        print(f"mcpod-bridge {__version__}")
        return EXIT_OK
    if args:
        print(f"mcpod-bridge: unexpected arguments {args!r}\n\n{USAGE}", file=sys.stderr, end="")
        return EXIT_CONFIG
    try:
        settings = load_settings(os.environ)
        command = resolve_command(settings)
        scratch, scratch_is_temp = prepare_scratch(settings)
    except ConfigError as exc:
        print(f"mcpod-bridge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    pat = settings.pat.reveal()
    redact = Redactor([pat, encode_pat(pat), settings.bridge_token.reveal()])
    configure_logging(settings.log_level, redact)
    try:
        return serve(settings, command, scratch, redact)
    finally:
        if scratch_is_temp:
            shutil.rmtree(scratch, ignore_errors=True)


def serve(
    settings: BridgeSettings, command: tuple[str, ...], scratch: str, redact: Redactor
) -> int:
    spec = UpstreamSpec(
        argv=upstream_argv(settings, command),
        env=upstream_env(settings, os.environ, scratch),
        cwd=scratch,
    )
    try:
        process = spawn_upstream(spec)
    except OSError as exc:
        logger.error("cannot start the upstream %s: %s", spec.argv[0], exc.strerror)
        return EXIT_UPSTREAM_FAILED
    logger.info("upstream started (pid %d): %s", process.pid, " ".join(spec.argv))
    try:
        return run_server(settings, process, redact)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def run_server(settings: BridgeSettings, process: subprocess.Popen[bytes], redact: Redactor) -> int:
    from mcpod_bridge.sdk_imports import skip_sdk_package_inits

    skip_sdk_package_inits()
    import uvicorn

    from mcpod_bridge.app import BridgeApp
    from mcpod_bridge.mcp_server import BridgeServer
    from mcpod_bridge.upstream import Upstream

    upstream = Upstream(process, redact, settings.startup_timeout)
    bridge = BridgeServer(upstream, settings.policy, settings.call_timeout)
    server: uvicorn.Server | None = None

    def request_exit() -> None:
        if server is not None:
            server.should_exit = True

    app = BridgeApp(bridge, settings.bridge_token.reveal(), settings.max_body_bytes, request_exit)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        # The standard loop, not uvloop: one caller (the gateway) per bridge, and uvloop's
        # import plus its four libuv worker threads cost ~2.5 MiB in every connection pod.
        loop="asyncio",
        ws="none",  # no WebSocket routes: do not load a WebSocket stack at all
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(max(1, settings.shutdown_grace)),
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGTERM/SIGINT it handled once it has shut down; with a handler of
    # our own in place that is a no-op, so a requested shutdown exits 0 rather than by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    logger.info(
        "mcpod-bridge for organization %s, domains %s, read-only %s, listening on %s:%d",
        settings.organization,
        " ".join(settings.domains),
        settings.policy.read_only,
        settings.host,
        settings.port,
    )
    server.run()
    if app.failed:
        return EXIT_UPSTREAM_FAILED
    if not server.started:
        logger.error("the bridge could not start listening on %s:%d", settings.host, settings.port)
        return EXIT_UPSTREAM_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
