"""What the gateway knows about a connection, independent of the backend that keeps it."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mcpod_common.tool_filter import ToolPolicy


class Phase(StrEnum):
    """The McpConnection status phases (contract); the local backend uses the same words."""

    PENDING = "Pending"
    STARTING = "Starting"
    READY = "Ready"
    IDLE = "Idle"
    SUSPENDED = "Suspended"
    FAILED = "Failed"


@dataclass(frozen=True)
class ConnectionSpec:
    """What a person chooses for a connection (never the PAT)."""

    slug: str
    organization: str
    domains: tuple[str, ...] = ()  # empty = all
    read_only: bool = False
    tools_allow: tuple[str, ...] = ()
    tools_deny: tuple[str, ...] = ()
    default_project: str = ""
    default_team: str = ""
    idle_timeout: str = ""  # a duration such as 10m; empty = the backend's default
    suspended: bool = False

    @property
    def policy(self) -> ToolPolicy:
        return ToolPolicy(read_only=self.read_only, allow=self.tools_allow, deny=self.tools_deny)


@dataclass(frozen=True)
class ConnectionView:
    """One connection as a backend reports it.  ``owner`` is always the user it belongs to."""

    name: str  # McpConnection name, or the local row's name
    uid: str  # never reused; the bridge token and the catalogue key derive from it
    owner: str
    spec: ConnectionSpec
    created: datetime
    phase: Phase = Phase.PENDING
    message: str = ""
    last_activity: datetime | None = None
    server_version: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def catalogue_fingerprint(self) -> str:
        """Everything that shapes the tool list: a catalogue taken under other values is stale."""
        spec = self.spec
        return _fingerprint(
            self.server_version, spec.domains, spec.read_only, spec.tools_allow, spec.tools_deny
        )


# Asked on every forwarded call (is the catalogue still fresh?) with a handful of distinct
# answers per process: worth remembering.
@functools.lru_cache(maxsize=4096)
def _fingerprint(
    server_version: str,
    domains: tuple[str, ...],
    read_only: bool,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
) -> str:
    material = json.dumps(
        {
            "server": server_version,
            "domains": sorted(domains),
            "readOnly": read_only,
            "allow": list(allow),
            "deny": list(deny),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class BridgeEndpoint:
    """Where a connection's bridge answers, and the token it wants."""

    url: str  # http://<ip>:<port>/mcp
    token: str = field(repr=False)


class ConnectionProblemError(Exception):
    """Base of the backends' user-facing errors; the message is safe to show."""


class ConnectionNotFoundError(ConnectionProblemError):
    """No such connection *for this user*: the same answer whether it exists for someone else."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"you have no connection named {slug!r}")
        self.slug = slug


class SlugTakenError(ConnectionProblemError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"you already have a connection named {slug!r}; choose another name")


class BackendUnavailableError(ConnectionProblemError):
    """The backend could not do it now (API server down, bridge would not start…)."""
