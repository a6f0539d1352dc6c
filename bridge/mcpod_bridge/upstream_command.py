"""How the upstream process is started: its argv and its environment (pure builders).

The PAT reaches the child only through its environment, encoded the way `-a pat` expects;
the child gets none of the bridge's own environment beyond what it needs, so neither the raw
PAT (`MCPOD_PAT`) nor the bridge token is ever visible to it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from mcpod_bridge.settings import BridgeSettings

IMAGE_UPSTREAM_DIR: Final = "/opt/mcpod/upstream"
UPSTREAM_ENTRY: Final = ("node_modules", "@azure-devops", "mcp", "dist", "index.js")
# `-t` skips the upstream's tenant lookup over the network (which can delay `initialize` by
# minutes); with `-a pat` the value is never used.
TENANT_PLACEHOLDER: Final = "mcpod-pat"
# What the upstream reads; lower-case on purpose, that is how it spells them.
UPSTREAM_ENV_PAT: Final = "PERSONAL_ACCESS_TOKEN"
UPSTREAM_ENV_PROJECT: Final = "ado_mcp_project"
UPSTREAM_ENV_TEAM: Final = "ado_mcp_team"
_DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_UPSTREAM_LOG_LEVELS: Final = {
    "debug": "debug",
    "info": "info",
    "warning": "warn",
    "error": "error",
}


def default_upstream_dir(env: Mapping[str, str], exists: Callable[[str], bool], home: str) -> str:
    """`MCPOD_UPSTREAM_DIR`, else the image's install, else the local setup's cache."""
    explicit = env.get("MCPOD_UPSTREAM_DIR", "").strip()
    if explicit:
        return explicit
    if exists(IMAGE_UPSTREAM_DIR):
        return IMAGE_UPSTREAM_DIR
    cache = env.get("XDG_CACHE_HOME", "").strip() or str(Path(home) / ".cache")
    return str(Path(cache) / "mcpod" / "upstream")


def upstream_command(settings: BridgeSettings, upstream_dir: str) -> tuple[str, ...]:
    """The command without its arguments: the configured one, or node with the installed server."""
    if settings.upstream_command:
        return settings.upstream_command
    return ("node", str(Path(upstream_dir, *UPSTREAM_ENTRY)))


def upstream_argv(settings: BridgeSettings, command: tuple[str, ...]) -> list[str]:
    """`<command> <org> -a pat -t <placeholder> -d <domains…>` - no secret on it."""
    return [
        *command,
        settings.organization,
        "-a",
        "pat",
        "-t",
        TENANT_PLACEHOLDER,
        "-d",
        *settings.domains,
    ]


def encode_pat(pat: str) -> str:
    """`-a pat` wants base64("<user>:<PAT>"); an empty user part works."""
    return base64.b64encode(f":{pat}".encode()).decode("ascii")


def upstream_env(
    settings: BridgeSettings, parent_env: Mapping[str, str], scratch_dir: str
) -> dict[str, str]:
    """Only what the upstream needs; nothing else of the bridge's environment."""
    env = {
        "PATH": parent_env.get("PATH") or _DEFAULT_PATH,
        "HOME": scratch_dir,
        "TMPDIR": scratch_dir,
        "LOG_LEVEL": _UPSTREAM_LOG_LEVELS.get(settings.log_level, "info"),
        UPSTREAM_ENV_PAT: encode_pat(settings.pat.reveal()),
    }
    for name in ("LANG", "LC_ALL", "TZ"):
        if parent_env.get(name):
            env[name] = parent_env[name]
    if settings.default_project:
        env[UPSTREAM_ENV_PROJECT] = settings.default_project
    if settings.default_team:
        env[UPSTREAM_ENV_TEAM] = settings.default_team
    if settings.extra_ca_certs:
        env["NODE_EXTRA_CA_CERTS"] = settings.extra_ca_certs
    return env
