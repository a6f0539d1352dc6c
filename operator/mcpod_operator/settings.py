"""Operator settings, read from ``MCPOD_*`` environment variables (flags mirror some of them).

Parsing is pure: ``load_settings(environ)`` takes a mapping, so every bad value is unit-tested and
reported with the variable's name and the accepted form, before anything touches the cluster.
"""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcpod_common.vocabulary import IMAGE_CONNECTION, parse_duration

DEFAULT_SERVER_VERSION = "2.10.0"
DEFAULT_IDLE_TIMEOUT = "10m"
ALL_NAMESPACES = "*"

# Same rule as the CRD's serverVersion pattern: it becomes the image tag.
_SERVER_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Kubernetes resource quantities such as 50m, 0.5, 128Mi, 1G.
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._:/-][a-z0-9]+)*$")
_LEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_MIN_ROUTING_KEY_BYTES = 32


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the accepted form."""


@dataclass(frozen=True)
class PodResources:
    cpu_request: str = "50m"
    memory_request: str = "192Mi"
    cpu_limit: str | None = None
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class Settings:
    """Everything the operator needs to know that is not in a McpConnection."""

    routing_key: bytes = field(repr=False)
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    connection_image: str = IMAGE_CONNECTION
    server_version: str = DEFAULT_SERVER_VERSION
    idle_timeout: str = DEFAULT_IDLE_TIMEOUT
    resources: PodResources = PodResources()
    workers: int = 8
    resync_seconds: float = 300.0
    leader_election: bool = True
    lease_name: str = "mcpod-operator"
    lease_namespace: str = "default"
    identity: str = ""
    log_level: str = "INFO"
    # host:port of the probe endpoint, or None for none.
    health_listen: tuple[str, int] | None = None

    @property
    def idle_timeout_seconds(self) -> float:
        return parse_duration(self.idle_timeout)

    @property
    def routing_key_id(self) -> str:
        """A short, non-secret fingerprint of the routing key (names the bridge-token Secret)."""
        return hashlib.sha256(b"mcpod routing key id\x00" + self.routing_key).hexdigest()[:8]


def _split_list(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", value.strip()) if part]


def parse_namespaces(value: str) -> tuple[tuple[str, ...], bool]:
    """``"a, b"`` → (("a", "b"), False); ``"*"`` → ((), True)."""
    names = _split_list(value)
    if names == [ALL_NAMESPACES]:
        return (), True
    if ALL_NAMESPACES in names:
        raise SettingsError(
            "MCPOD_NAMESPACE: '*' (all namespaces) cannot be combined with namespace names"
        )
    bad = [n for n in names if not _NAMESPACE.fullmatch(n)]
    if bad:
        raise SettingsError(
            f"MCPOD_NAMESPACE: invalid namespace name(s) {', '.join(repr(b) for b in bad)}; "
            "give names separated by commas or spaces, or '*' for all namespaces"
        )
    return tuple(dict.fromkeys(names)), False


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: expected a number from {low} to {high}, got {value}")
    return value


def _duration(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "").strip() or default
    try:
        seconds = parse_duration(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None
    if seconds <= 0:
        raise SettingsError(f"{name}: must be longer than zero, got {raw!r}")
    return raw


def _quantity(environ: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = environ.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if raw in ("", "none"):
        return None
    if not _QUANTITY.fullmatch(raw):
        raise SettingsError(
            f"{name}: invalid resource quantity {raw!r}; use forms like 50m, 0.5, 128Mi or 1Gi "
            "(or 'none' for no value)"
        )
    return raw


def _routing_key(environ: Mapping[str, str]) -> bytes:
    """The key is the UTF-8 bytes of MCPOD_ROUTING_KEY, or the bytes of MCPOD_ROUTING_KEY_FILE.

    A file (a mounted Secret) is preferred in clusters: env values show up in ``kubectl describe``
    of the operator's own pod only as references, but a file never does.
    """
    inline = environ.get("MCPOD_ROUTING_KEY", "")
    path = environ.get("MCPOD_ROUTING_KEY_FILE", "")
    if inline and path:
        raise SettingsError("set only one of MCPOD_ROUTING_KEY and MCPOD_ROUTING_KEY_FILE")
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as error:
            raise SettingsError(
                f"MCPOD_ROUTING_KEY_FILE: cannot read {path!r}: {error.strerror}"
            ) from None
        source = "MCPOD_ROUTING_KEY_FILE"
    elif inline:
        key = inline.strip().encode()
        source = "MCPOD_ROUTING_KEY"
    else:
        raise SettingsError(
            "the routing key is required: set MCPOD_ROUTING_KEY (at least 32 bytes, shared with "
            "the gateway) or MCPOD_ROUTING_KEY_FILE (a file holding it)"
        )
    if len(key) < _MIN_ROUTING_KEY_BYTES:
        raise SettingsError(
            f"{source}: the routing key must hold at least {_MIN_ROUTING_KEY_BYTES} bytes, "
            f"got {len(key)}"
        )
    return key


def _image_repository(environ: Mapping[str, str]) -> str:
    raw = environ.get("MCPOD_CONNECTION_IMAGE", "").strip() or IMAGE_CONNECTION
    last = raw.rsplit("/", 1)[-1]
    if ":" in last or "@" in raw:
        raise SettingsError(
            f"MCPOD_CONNECTION_IMAGE: give the image repository without a tag or digest, got "
            f"{raw!r}; the tag is the server version (MCPOD_SERVER_VERSION or the "
            "connection's serverVersion)"
        )
    if not _IMAGE_REPOSITORY.fullmatch(raw):
        raise SettingsError(f"MCPOD_CONNECTION_IMAGE: invalid image repository {raw!r}")
    return raw


def _default_lease_namespace(namespaces: tuple[str, ...]) -> str:
    try:
        own = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        own = ""
    if own:
        return own
    return namespaces[0] if namespaces else "default"


def parse_listen(name: str, value: str) -> tuple[str, int] | None:
    """``host:port`` (IPv6 in brackets); empty means off."""
    value = value.strip()
    if not value:
        return None
    match = re.fullmatch(r"\[?([0-9A-Za-z.:-]+?)\]?:([0-9]{1,5})", value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise SettingsError(f"{name}: expected host:port such as 0.0.0.0:8081, got {value!r}")
    return match.group(1), int(match.group(2))


def load_settings(
    environ: Mapping[str, str],
    *,
    namespaces: tuple[str, ...] | None = None,
    all_namespaces: bool | None = None,
) -> Settings:
    """Build the settings from the environment; explicit flags win over MCPOD_NAMESPACE."""
    if namespaces or all_namespaces:
        if namespaces and all_namespaces:
            raise SettingsError("--namespace and --all-namespaces cannot be used together")
        chosen, everywhere = parse_namespaces(",".join(namespaces or ("*",)))
    else:
        chosen, everywhere = parse_namespaces(environ.get("MCPOD_NAMESPACE", ""))
    if not chosen and not everywhere:
        raise SettingsError(
            "no namespace to watch: set MCPOD_NAMESPACE (names separated by commas or spaces, or "
            "'*' for all namespaces), or pass --namespace NAME or --all-namespaces"
        )

    version = environ.get("MCPOD_SERVER_VERSION", "").strip() or DEFAULT_SERVER_VERSION
    if not _SERVER_VERSION.fullmatch(version):
        raise SettingsError(
            f"MCPOD_SERVER_VERSION: expected a version such as 2.10.0, got {version!r}"
        )

    resources = PodResources(
        cpu_request=_quantity(environ, "MCPOD_POD_CPU_REQUEST", PodResources.cpu_request) or "",
        memory_request=_quantity(environ, "MCPOD_POD_MEMORY_REQUEST", PodResources.memory_request)
        or "",
        cpu_limit=_quantity(environ, "MCPOD_POD_CPU_LIMIT", None),
        memory_limit=_quantity(environ, "MCPOD_POD_MEMORY_LIMIT", PodResources.memory_limit) or "",
    )

    lease_name = environ.get("MCPOD_LEASE_NAME", "").strip() or "mcpod-operator"
    if not _LEASE_NAME.fullmatch(lease_name):
        raise SettingsError(f"MCPOD_LEASE_NAME: invalid object name {lease_name!r}")
    lease_namespace = environ.get("MCPOD_LEASE_NAMESPACE", "").strip()
    if lease_namespace and not _NAMESPACE.fullmatch(lease_namespace):
        raise SettingsError(f"MCPOD_LEASE_NAMESPACE: invalid namespace name {lease_namespace!r}")

    level = environ.get("MCPOD_LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            f"MCPOD_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {level!r}"
        )

    identity = environ.get("MCPOD_POD_NAME", "").strip() or socket.gethostname()
    return Settings(
        routing_key=_routing_key(environ),
        namespaces=chosen,
        all_namespaces=everywhere,
        connection_image=_image_repository(environ),
        server_version=version,
        idle_timeout=_duration(environ, "MCPOD_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT),
        resources=resources,
        workers=_int(environ, "MCPOD_WORKERS", 8, 1, 256),
        resync_seconds=parse_duration(_duration(environ, "MCPOD_RESYNC_INTERVAL", "5m")),
        leader_election=_bool(environ, "MCPOD_LEADER_ELECTION", True),
        lease_name=lease_name,
        lease_namespace=lease_namespace or _default_lease_namespace(chosen),
        # A random suffix keeps two replicas on one host (tests) from sharing an identity.
        identity=f"{identity}-{uuid.uuid4().hex[:6]}",
        log_level=level,
        health_listen=parse_listen("MCPOD_HEALTH_LISTEN", environ.get("MCPOD_HEALTH_LISTEN", "")),
    )
