"""The names other parts rely on: API group, kind, labels, annotations, name rules.

Operator, gateway, bridge and tests import these instead of repeating string
literals, so a contract change is one edit.  This module must stay free of
kopf and web-framework imports.
"""

from __future__ import annotations

import re
from typing import Final

GROUP: Final = "mcpod.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "McpConnection"
PLURAL: Final = "mcpconnections"
SINGULAR: Final = "mcpconnection"
SHORT_NAME: Final = "mcpc"
CATEGORY: Final = "mcpod"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# Labels on the McpConnection and on its pod.
LABEL_OWNER: Final = f"{GROUP}/owner"
LABEL_SLUG: Final = f"{GROUP}/slug"
LABEL_CONNECTION: Final = f"{GROUP}/connection"
LABEL_APP_NAME: Final = "app.kubernetes.io/name"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
APP_NAME_CONNECTION: Final = "mcpod-connection"
MANAGED_BY_OPERATOR: Final = "mcpod-operator"

# Written by the gateway (throttled), read by the operator: waking = setting it to now.
ANNOTATION_LAST_ACTIVITY: Final = f"{GROUP}/last-activity"

# The Secret key that holds the raw PAT.
SECRET_KEY_PAT: Final = "pat"  # noqa: S105 (the key's name, not a secret)

BRIDGE_PORT: Final = 8080

# The upstream's domains (`-d`).  It enables *all* tools on an unknown name, so
# every component validates against this list before passing anything on.
DOMAINS: Final = (
    "core",
    "work",
    "work-items",
    "search",
    "test-plans",
    "repositories",
    "wiki",
    "pipelines",
    "advanced-security",
)

OWNER_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SLUG_PATTERN: Final = r"^[a-z][a-z0-9-]{0,21}$"
# Azure DevOps organization names: letters, digits and hyphens, not starting or
# ending with a hyphen, at most 50 characters.
ORGANIZATION_PATTERN: Final = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,48}[A-Za-z0-9])?$"
DURATION_PATTERN: Final = r"^([0-9]+(ms|s|m|h))+$"

_OWNER = re.compile(OWNER_PATTERN)
_SLUG = re.compile(SLUG_PATTERN)
_ORGANIZATION = re.compile(ORGANIZATION_PATTERN)
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def is_valid_owner(value: str) -> bool:
    return bool(_OWNER.fullmatch(value))


def is_valid_slug(value: str) -> bool:
    return bool(_SLUG.fullmatch(value))


def is_valid_organization(value: str) -> bool:
    return bool(_ORGANIZATION.fullmatch(value))


def parse_duration(value: str) -> float:
    """Seconds in a Go-style duration such as ``10m`` or ``1h30m``.

    Raises ValueError with a message that names the accepted form.
    """
    if not _DURATION.fullmatch(value):
        raise ValueError(f"invalid duration {value!r}: use forms like 90s, 10m or 1h30m")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def validate_domains(domains: list[str] | tuple[str, ...]) -> list[str]:
    """Return the domains unchanged, or raise ValueError naming the bad ones."""
    bad = [d for d in domains if d not in DOMAINS]
    if bad:
        raise ValueError(
            f"unknown domain(s) {', '.join(repr(b) for b in bad)}; "
            f"known: {' '.join(DOMAINS)} (space-separated)"
        )
    return list(domains)


# Bumped by the gateway when it rotates a connection's PAT (the operator never
# reads Secret data, so it cannot see the change itself); the operator folds it
# into the pod's config hash, which replaces the pod.
ANNOTATION_CREDENTIALS_ROTATED: Final = f"{GROUP}/credentials-rotated"

# Default image repository of each component; the tag of the connection image is
# the upstream server version.  The process kubelet maps these to local commands.
IMAGE_CONNECTION: Final = "mcpod/connection"
IMAGE_GATEWAY: Final = "mcpod/gateway"
IMAGE_OPERATOR: Final = "mcpod/operator"
# A connection image tag that the test kubelet maps to the fake upstream.
FAKE_SERVER_VERSION: Final = "0.0.0-fake"
