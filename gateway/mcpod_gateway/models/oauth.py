"""OAuth 2.1 state: clients, authorization codes, token families, consents.

Every secret (code, access token, refresh token) is stored only as SHA-256 of
its value, like API tokens: they carry 256 random bits, so a fast hash is enough
and lookups stay indexed equality matches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from .base import UTCDateTime, utcnow

CLIENT_ID_MAX = 2048  # a client ID metadata document URL can be long
CLIENT_NAME_MAX = 100
SCOPE_MAX = 200
URI_MAX = 2048


class OAuthClient(SQLModel, table=True):
    """A client that registered itself (DCR) or was seen by its metadata document (CIMD)."""

    __tablename__ = "oauth_clients"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(sa_column=Column(String(CLIENT_ID_MAX), unique=True, nullable=False))
    kind: str = Field(max_length=8)  # "dcr" or "cimd"
    client_name: str = Field(max_length=CLIENT_NAME_MAX)
    redirect_uris: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Where a DCR registration came from (for abuse review); empty for CIMD.
    registered_from: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthAuthorizationCode(SQLModel, table=True):
    __tablename__ = "oauth_authorization_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    client_pk: int = Field(
        sa_column=Column(
            Integer, ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    redirect_uri: str = Field(max_length=URI_MAX)
    scope: str = Field(max_length=SCOPE_MAX)
    resource: str = Field(max_length=URI_MAX)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # Kept after use (not deleted) so a replay can be recognised and its tokens revoked.
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OAuthToken(SQLModel, table=True):
    """One issuance: an access token and (usually) a refresh token.

    Rows of one grant share ``family_id``; a refresh makes a new row and marks
    the old one ``rotated_at``.  Revoking a family revokes every row in it.
    """

    __tablename__ = "oauth_tokens"

    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(max_length=32, index=True)
    client_pk: int = Field(
        sa_column=Column(
            Integer, ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    code_id: int | None = Field(default=None, index=True)
    scope: str = Field(max_length=SCOPE_MAX)
    resource: str = Field(max_length=URI_MAX)
    access_token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    refresh_token_hash: str | None = Field(
        default=None, sa_column=Column(String(64), unique=True, nullable=True)
    )
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    access_expires_at: datetime = Field(sa_type=UTCDateTime)
    # Absolute end of the whole family: rotation never extends it.
    refresh_expires_at: datetime = Field(sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OAuthConsent(SQLModel, table=True):
    """A person's standing approval of one client (shown and revocable in the portal)."""

    __tablename__ = "oauth_consents"
    __table_args__ = (UniqueConstraint("user_id", "client_pk"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    client_pk: int = Field(
        sa_column=Column(
            Integer, ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    scope: str = Field(max_length=SCOPE_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
