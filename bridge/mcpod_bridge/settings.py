"""The bridge's configuration, read from `MCPOD_*` environment variables (pure, no I/O).

Every bad value is a startup error naming the variable and the accepted form, so a pod with a
broken spec fails fast instead of passing something to the upstream, which would silently
enable all its tools on an unknown domain.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from mcpod_common.tool_filter import ToolPolicy, parse_tool_patterns
from mcpod_common.vocabulary import (
    BRIDGE_PORT,
    DOMAINS,
    is_valid_organization,
    parse_duration,
    validate_domains,
)

ENV_ORGANIZATION: Final = "MCPOD_ORGANIZATION"
ENV_DOMAINS: Final = "MCPOD_DOMAINS"
ENV_READ_ONLY: Final = "MCPOD_READ_ONLY"
ENV_TOOLS_ALLOW: Final = "MCPOD_TOOLS_ALLOW"
ENV_TOOLS_DENY: Final = "MCPOD_TOOLS_DENY"
ENV_DEFAULT_PROJECT: Final = "MCPOD_DEFAULT_PROJECT"
ENV_DEFAULT_TEAM: Final = "MCPOD_DEFAULT_TEAM"
ENV_PAT: Final = "MCPOD_PAT"
ENV_BRIDGE_TOKEN: Final = "MCPOD_BRIDGE_TOKEN"  # noqa: S105 - a variable name
ENV_LISTEN: Final = "MCPOD_LISTEN"
ENV_UPSTREAM_COMMAND: Final = "MCPOD_UPSTREAM_COMMAND"
ENV_UPSTREAM_DIR: Final = "MCPOD_UPSTREAM_DIR"
ENV_SCRATCH_DIR: Final = "MCPOD_SCRATCH_DIR"
ENV_CALL_TIMEOUT: Final = "MCPOD_CALL_TIMEOUT"
ENV_STARTUP_TIMEOUT: Final = "MCPOD_STARTUP_TIMEOUT"
ENV_SHUTDOWN_GRACE: Final = "MCPOD_SHUTDOWN_GRACE"
ENV_MAX_BODY_BYTES: Final = "MCPOD_MAX_BODY_BYTES"
ENV_LOG_LEVEL: Final = "MCPOD_LOG_LEVEL"

DEFAULT_LISTEN: Final = f"0.0.0.0:{BRIDGE_PORT}"
# Well under the upstream's own 180 s stall on a silent server.
DEFAULT_CALL_TIMEOUT: Final = "60s"
DEFAULT_STARTUP_TIMEOUT: Final = "60s"
DEFAULT_SHUTDOWN_GRACE: Final = "10s"
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
MIN_BRIDGE_TOKEN_LENGTH: Final = 16
LOG_LEVELS: Final = ("debug", "info", "warning", "error")

_LISTEN = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>[0-9]{1,5})$"
)
# Project and team names travel to the upstream as env values: refuse control characters.
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A string that never shows itself in repr/str, so it cannot slip into a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    organization: str
    domains: tuple[str, ...]
    policy: ToolPolicy
    pat: Secret = field(repr=False)
    bridge_token: Secret = field(repr=False)
    host: str = "0.0.0.0"  # noqa: S104 - the pod's port must be reachable from the gateway
    port: int = BRIDGE_PORT
    upstream_command: tuple[str, ...] | None = None
    upstream_dir: str | None = None
    scratch_dir: str | None = None
    default_project: str | None = None
    default_team: str | None = None
    call_timeout: float = 60.0
    startup_timeout: float = 60.0
    shutdown_grace: float = 10.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_level: str = "info"
    extra_ca_certs: str | None = None


def parse_domains(value: str | None) -> tuple[str, ...]:
    """Space-separated domains; empty means all of them, named explicitly for the upstream."""
    if value is None or not value.strip():
        return DOMAINS
    names = value.split()
    joined = [n for n in names if "," in n]
    if joined:
        raise ConfigError(
            f"{ENV_DOMAINS}: {', '.join(repr(j) for j in joined)} is comma-joined; "
            "separate domains with spaces"
        )
    try:
        validated = validate_domains(names)
    except ValueError as exc:
        raise ConfigError(f"{ENV_DOMAINS}: {exc}") from None
    return tuple(dict.fromkeys(validated))


def parse_bool(name: str, value: str | None) -> bool:
    if value is None or value.strip() == "":
        return False
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise ConfigError(f"{name}: expected 'true' or 'false', got {value!r}")


def parse_listen(value: str | None) -> tuple[str, int]:
    raw = value.strip() if value and value.strip() else DEFAULT_LISTEN
    match = _LISTEN.fullmatch(raw)
    if not match:
        raise ConfigError(f"{ENV_LISTEN}: expected host:port (e.g. 0.0.0.0:8080), got {raw!r}")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ConfigError(f"{ENV_LISTEN}: port {port} is out of range 1-65535")
    return match["v6"] or match["host"], port


def _duration(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name) or default
    try:
        seconds = parse_duration(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{name}: must be longer than zero")
    return seconds


def _optional_name(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    if not _PRINTABLE.fullmatch(raw):
        raise ConfigError(f"{name}: at most 256 characters, no control characters")
    return raw.strip()


def _required_secret(env: Mapping[str, str], name: str, min_length: int = 1) -> Secret:
    raw = env.get(name, "")
    if not raw.strip():
        raise ConfigError(f"{name} is required")
    value = raw.strip()
    if any(c.isspace() or ord(c) < 32 for c in value):
        # Never echo the value: it is a secret.
        raise ConfigError(f"{name} must not contain whitespace or control characters")
    if len(value) < min_length:
        raise ConfigError(f"{name} must be at least {min_length} characters long")
    return Secret(value)


def load_settings(env: Mapping[str, str]) -> BridgeSettings:
    """Read and validate every setting; raise ConfigError on the first bad one."""
    organization = (env.get(ENV_ORGANIZATION) or "").strip()
    if not organization:
        raise ConfigError(f"{ENV_ORGANIZATION} is required (the Azure DevOps organization name)")
    if not is_valid_organization(organization):
        raise ConfigError(
            f"{ENV_ORGANIZATION}: {organization!r} is not an organization name "
            "(letters, digits and inner hyphens, at most 50)"
        )
    domains = parse_domains(env.get(ENV_DOMAINS))
    try:
        policy = ToolPolicy(
            read_only=parse_bool(ENV_READ_ONLY, env.get(ENV_READ_ONLY)),
            allow=parse_tool_patterns(env.get(ENV_TOOLS_ALLOW)),
            deny=parse_tool_patterns(env.get(ENV_TOOLS_DENY)),
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{ENV_TOOLS_ALLOW}/{ENV_TOOLS_DENY}: {exc}") from None
    host, port = parse_listen(env.get(ENV_LISTEN))
    command_raw = env.get(ENV_UPSTREAM_COMMAND, "").strip()
    upstream_command: tuple[str, ...] | None = None
    if command_raw:
        try:
            upstream_command = tuple(shlex.split(command_raw))
        except ValueError as exc:
            raise ConfigError(f"{ENV_UPSTREAM_COMMAND}: {exc}") from None
    max_body_raw = (env.get(ENV_MAX_BODY_BYTES) or "").strip()
    if max_body_raw:
        if not max_body_raw.isdigit() or int(max_body_raw) <= 0:
            raise ConfigError(f"{ENV_MAX_BODY_BYTES}: expected a positive number of bytes")
        max_body = int(max_body_raw)
    else:
        max_body = DEFAULT_MAX_BODY_BYTES
    log_level = (env.get(ENV_LOG_LEVEL) or "info").strip().lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"{ENV_LOG_LEVEL}: expected one of {', '.join(LOG_LEVELS)}")
    return BridgeSettings(
        organization=organization,
        domains=domains,
        policy=policy,
        pat=_required_secret(env, ENV_PAT),
        bridge_token=_required_secret(env, ENV_BRIDGE_TOKEN, MIN_BRIDGE_TOKEN_LENGTH),
        host=host,
        port=port,
        upstream_command=upstream_command,
        upstream_dir=(env.get(ENV_UPSTREAM_DIR) or "").strip() or None,
        scratch_dir=(env.get(ENV_SCRATCH_DIR) or "").strip() or None,
        default_project=_optional_name(env, ENV_DEFAULT_PROJECT),
        default_team=_optional_name(env, ENV_DEFAULT_TEAM),
        call_timeout=_duration(env, ENV_CALL_TIMEOUT, DEFAULT_CALL_TIMEOUT),
        startup_timeout=_duration(env, ENV_STARTUP_TIMEOUT, DEFAULT_STARTUP_TIMEOUT),
        shutdown_grace=_duration(env, ENV_SHUTDOWN_GRACE, DEFAULT_SHUTDOWN_GRACE),
        max_body_bytes=max_body,
        log_level=log_level,
        extra_ca_certs=(env.get("NODE_EXTRA_CA_CERTS") or "").strip() or None,
    )
