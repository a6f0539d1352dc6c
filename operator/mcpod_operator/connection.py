"""A McpConnection as the operator sees it, parsed from the raw body, and the "wants a pod" rule."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mcpod_common.vocabulary import (
    ANNOTATION_CREDENTIALS_ROTATED,
    ANNOTATION_LAST_ACTIVITY,
    is_valid_organization,
    is_valid_owner,
    is_valid_slug,
    parse_duration,
    validate_domains,
)

from mcpod_operator.timestamps import parse_time

# A label value (mcpod.dev/connection) holds at most 63 characters.
MAX_CONNECTION_NAME = 63


class InvalidConnectionError(ValueError):
    """The resource passed the schema but still cannot become a pod (say why)."""


class Want(enum.Enum):
    POD = "pod"
    IDLE = "idle"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Connection:
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    owner: str
    slug: str
    organization: str
    secret_name: str
    domains: tuple[str, ...] = ()
    read_only: bool = False
    tools_allow: tuple[str, ...] = ()
    tools_deny: tuple[str, ...] = ()
    default_project: str | None = None
    default_team: str | None = None
    idle_timeout: str | None = None
    suspended: bool = False
    server_version: str | None = None
    last_activity: datetime | None = None
    credentials_rotated: str = ""
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def activity_time(self) -> datetime:
        """The later of the gateway's last-activity stamp and the creation time."""
        if self.last_activity is None:
            return self.created
        return max(self.last_activity, self.created)

    def idle_deadline(self, default_timeout: str) -> datetime:
        timeout = parse_duration(self.idle_timeout or default_timeout)
        return self.activity_time() + timedelta(seconds=timeout)

    def want(self, default_timeout: str, now: datetime) -> Want:
        if self.suspended:
            return Want.SUSPENDED
        if now >= self.idle_deadline(default_timeout):
            return Want.IDLE
        return Want.POD


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidConnectionError(f"{what} must be a list of strings")
    return tuple(value)


def _text(spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidConnectionError(f"spec.{key} is required")
    return value


def parse_connection(body: Mapping[str, Any]) -> Connection:
    """Parse a McpConnection body; raise InvalidConnectionError naming the first bad field.

    The CRD schema already rejects most of these; checking again keeps a resource created before
    a schema change (or with validation bypassed) from producing a half-right pod.
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    annotations = meta.get("annotations") or {}
    name = str(meta.get("name", ""))
    if len(name) > MAX_CONNECTION_NAME:
        raise InvalidConnectionError(
            f"the name {name!r} is longer than {MAX_CONNECTION_NAME} characters, so it cannot be "
            "the pod's mcpod.dev/connection label; recreate the connection with a shorter name"
        )
    owner = _text(spec, "owner")
    if not is_valid_owner(owner):
        raise InvalidConnectionError(f"spec.owner {owner!r} is not a valid label value")
    slug = _text(spec, "slug")
    if not is_valid_slug(slug):
        raise InvalidConnectionError(f"spec.slug {slug!r} is not a valid slug")
    organization = _text(spec, "organization")
    if not is_valid_organization(organization):
        raise InvalidConnectionError(
            f"spec.organization {organization!r} is not a valid organization name"
        )
    secret_name = ((spec.get("credentials") or {}).get("secretRef") or {}).get("name")
    if not isinstance(secret_name, str) or not secret_name:
        raise InvalidConnectionError("spec.credentials.secretRef.name is required")
    try:
        domains = tuple(validate_domains(list(_strings(spec.get("domains"), "spec.domains"))))
    except ValueError as error:
        raise InvalidConnectionError(f"spec.domains: {error}") from None
    idle_timeout = spec.get("idleTimeout") or None
    if idle_timeout is not None:
        try:
            if parse_duration(str(idle_timeout)) <= 0:
                raise ValueError("it must be longer than zero")
        except ValueError as error:
            raise InvalidConnectionError(f"spec.idleTimeout: {error}") from None
    tools = spec.get("tools") or {}
    defaults = spec.get("defaults") or {}
    last_activity: datetime | None = None
    raw_activity = annotations.get(ANNOTATION_LAST_ACTIVITY)
    if raw_activity:
        # A malformed stamp counts as no activity rather than failing the connection: it only
        # moves the idle deadline, and the gateway's next stamp repairs it.
        with contextlib.suppress(ValueError):
            last_activity = parse_time(str(raw_activity))
    try:
        created = parse_time(str(meta.get("creationTimestamp", "")))
    except ValueError:
        raise InvalidConnectionError("metadata.creationTimestamp is missing or malformed") from None
    return Connection(
        namespace=str(meta.get("namespace", "")),
        name=name,
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        created=created,
        owner=owner,
        slug=slug,
        organization=organization,
        secret_name=secret_name,
        domains=domains,
        read_only=bool(spec.get("readOnly", False)),
        tools_allow=_strings(tools.get("allow"), "spec.tools.allow"),
        tools_deny=_strings(tools.get("deny"), "spec.tools.deny"),
        default_project=defaults.get("project") or None,
        default_team=defaults.get("team") or None,
        idle_timeout=str(idle_timeout) if idle_timeout else None,
        suspended=bool(spec.get("suspended", False)),
        server_version=spec.get("serverVersion") or None,
        last_activity=last_activity,
        credentials_rotated=str(annotations.get(ANNOTATION_CREDENTIALS_ROTATED, "")),
        status=body.get("status") or {},
    )
