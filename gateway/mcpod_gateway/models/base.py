"""Column types and id helpers shared by every model family."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_BASE32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_user_id() -> str:
    """A user id that is also a valid Kubernetes label value (``mcpod.dev/owner``).

    ``u`` + 20 base32 characters (100 random bits): lowercase, starts and ends
    alphanumeric, far below the 63-character label limit.
    """
    return "u" + "".join(secrets.choice(_BASE32_LOWER) for _ in range(20))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect.

    SQLite has no time zone type and hands back naive values; PostgreSQL's
    ``timestamptz`` hands back aware ones.  Storing naive UTC and re-attaching
    UTC on the way out makes comparisons behave the same on both.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
