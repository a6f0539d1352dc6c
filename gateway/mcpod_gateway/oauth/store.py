"""Database operations of the authorization server (async; one session per request).

The single-use and rotation rules are enforced by conditional UPDATEs
(``… WHERE used_at IS NULL``), so two concurrent requests with the same code
or refresh token cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..models import OAuthAuthorizationCode, OAuthClient, OAuthConsent, OAuthToken
from ..models.base import utcnow
from .cimd import ClientMetadata
from .tokens import hash_secret


def new_family_id() -> str:
    return secrets.token_hex(16)


# ---- clients ---------------------------------------------------------------


async def get_client(db: AsyncSession, client_id: str) -> OAuthClient | None:
    if not client_id or len(client_id) > 2048:
        return None
    return (await db.exec(select(OAuthClient).where(OAuthClient.client_id == client_id))).first()


async def count_registered_clients(db: AsyncSession) -> int:
    query = select(func.count()).select_from(OAuthClient).where(OAuthClient.kind == "dcr")
    return int((await db.exec(query)).one())


async def create_registered_client(
    db: AsyncSession, *, client_name: str, redirect_uris: list[str], registered_from: str
) -> OAuthClient:
    client = OAuthClient(
        client_id="mcpod_client_" + secrets.token_urlsafe(18),
        kind="dcr",
        client_name=client_name,
        redirect_uris=redirect_uris,
        registered_from=registered_from[:64],
    )
    db.add(client)
    await db.flush()
    return client


async def upsert_metadata_client(db: AsyncSession, metadata: ClientMetadata) -> OAuthClient:
    """Record (or refresh) a CIMD client from its just-validated document."""
    client = await get_client(db, metadata.client_id)
    if client is None:
        client = OAuthClient(
            client_id=metadata.client_id, kind="cimd", client_name="", redirect_uris=[]
        )
    client.client_name = metadata.client_name
    client.redirect_uris = list(metadata.redirect_uris)
    client.updated_at = utcnow()
    db.add(client)
    await db.flush()
    return client


# ---- authorization codes ------------------------------------------------------


async def save_code(
    db: AsyncSession,
    *,
    code: str,
    client_pk: int,
    user_id: str,
    redirect_uri: str,
    scope: str,
    resource: str,
    code_challenge: str,
    code_challenge_method: str,
    lifetime: timedelta,
) -> None:
    now = utcnow()
    db.add(
        OAuthAuthorizationCode(
            code_hash=hash_secret(code),
            client_pk=client_pk,
            user_id=user_id,
            redirect_uri=redirect_uri,
            scope=scope,
            resource=resource,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await db.flush()


@dataclass(frozen=True)
class CodeClaim:
    code: OAuthAuthorizationCode | None  # None: unknown, foreign, expired or replayed
    revoked_families: tuple[str, ...] = ()  # revoked because the code was replayed


async def claim_code(db: AsyncSession, *, code: str, client_pk: int) -> CodeClaim:
    """Use a code once.  A second use revokes every token issued from it (RFC 6749 §4.1.2)."""
    query = select(OAuthAuthorizationCode).where(
        OAuthAuthorizationCode.code_hash == hash_secret(code)
    )
    row = (await db.exec(query)).first()
    if row is None or row.client_pk != client_pk:
        return CodeClaim(None)
    now = utcnow()
    claimed = await _update_count(
        db,
        update(OAuthAuthorizationCode)
        .where(
            col(OAuthAuthorizationCode.id) == row.id, col(OAuthAuthorizationCode.used_at).is_(None)
        )
        .values(used_at=now),
    )
    if claimed != 1:
        return CodeClaim(None, tuple(await revoke_tokens_from_code(db, code_id=row.id)))
    if row.expires_at <= now:
        return CodeClaim(None)
    return CodeClaim(row)


async def revoke_tokens_from_code(db: AsyncSession, *, code_id: int | None) -> list[str]:
    families = list(
        (
            await db.exec(
                select(OAuthToken.family_id).where(OAuthToken.code_id == code_id).distinct()
            )
        ).all()
    )
    for family in families:
        await revoke_family(db, family_id=family)
    return families


# ---- tokens -------------------------------------------------------------------


async def save_token(
    db: AsyncSession,
    *,
    access_token: str,
    refresh_token: str | None,
    family_id: str,
    client_pk: int,
    user_id: str,
    code_id: int | None,
    scope: str,
    resource: str,
    access_expires_at: datetime,
    refresh_expires_at: datetime,
) -> OAuthToken:
    row = OAuthToken(
        family_id=family_id,
        client_pk=client_pk,
        user_id=user_id,
        code_id=code_id,
        scope=scope,
        resource=resource,
        access_token_hash=hash_secret(access_token),
        refresh_token_hash=hash_secret(refresh_token) if refresh_token else None,
        access_expires_at=access_expires_at,
        refresh_expires_at=refresh_expires_at,
    )
    db.add(row)
    await db.flush()
    return row


async def find_token(db: AsyncSession, *, token: str) -> OAuthToken | None:
    digest = hash_secret(token)
    query = select(OAuthToken).where(
        (OAuthToken.access_token_hash == digest) | (OAuthToken.refresh_token_hash == digest)
    )
    return (await db.exec(query)).first()


async def revoke_family(db: AsyncSession, *, family_id: str) -> None:
    await db.exec(
        update(OAuthToken)
        .where(col(OAuthToken.family_id) == family_id, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


@dataclass(frozen=True)
class RefreshOutcome:
    token: OAuthToken | None  # the row whose grant is renewed; None = refused
    reuse_detected: bool = False
    family_id: str | None = None  # of a family revoked for reuse


async def use_refresh_token(
    db: AsyncSession, *, refresh_token: str, client_pk: int, grace: timedelta
) -> RefreshOutcome:
    """Rotate a refresh token, with reuse detection and a short retry grace.

    - a live token: marked rotated (once; a concurrent second use loses);
    - the *immediately previous* token again, within ``grace`` of its rotation,
      while its successor has never been used: the unused successor is revoked
      and the renewal succeeds (a client that lost the response may retry);
    - any other rotated or revoked token: reuse — the whole family is revoked.
    """
    digest = hash_secret(refresh_token)
    row = (await db.exec(select(OAuthToken).where(OAuthToken.refresh_token_hash == digest))).first()
    now = utcnow()
    if row is None or row.client_pk != client_pk:
        return RefreshOutcome(None)
    if row.revoked_at is not None:
        # Revoked tokens include a successor voided by a grace retry: whoever
        # still holds it is a second holder, so the family goes (no-op when
        # the family was already revoked).
        await revoke_family(db, family_id=row.family_id)
        return RefreshOutcome(None, reuse_detected=True, family_id=row.family_id)
    if row.refresh_expires_at <= now:
        return RefreshOutcome(None)
    if row.rotated_at is None:
        claimed = await _update_count(
            db,
            update(OAuthToken)
            .where(
                col(OAuthToken.id) == row.id,
                col(OAuthToken.rotated_at).is_(None),
                col(OAuthToken.revoked_at).is_(None),
            )
            .values(rotated_at=now),
        )
        if claimed == 1:
            return RefreshOutcome(row)
        await db.refresh(row)
    if row.rotated_at is not None and now - row.rotated_at <= grace:
        successor = (
            await db.exec(
                select(OAuthToken)
                .where(OAuthToken.family_id == row.family_id, col(OAuthToken.id) > row.id)
                .order_by(col(OAuthToken.id))
            )
        ).all()
        if len(successor) == 1:
            taken = await _update_count(
                db,
                update(OAuthToken)
                .where(
                    col(OAuthToken.id) == successor[0].id,
                    col(OAuthToken.rotated_at).is_(None),
                    col(OAuthToken.revoked_at).is_(None),
                )
                .values(revoked_at=now),
            )
            if taken == 1:
                return RefreshOutcome(row)
    await revoke_family(db, family_id=row.family_id)
    return RefreshOutcome(None, reuse_detected=True, family_id=row.family_id)


# ---- consents -----------------------------------------------------------------


async def find_consent(db: AsyncSession, *, user_id: str, client_pk: int) -> OAuthConsent | None:
    query = select(OAuthConsent).where(
        OAuthConsent.user_id == user_id, OAuthConsent.client_pk == client_pk
    )
    return (await db.exec(query)).first()


async def remember_consent(db: AsyncSession, *, user_id: str, client_pk: int, scope: str) -> None:
    consent = await find_consent(db, user_id=user_id, client_pk=client_pk)
    now = utcnow()
    if consent is None:
        consent = OAuthConsent(user_id=user_id, client_pk=client_pk, scope=scope)
    else:
        granted = set(consent.scope.split()) | set(scope.split())
        consent.scope = " ".join(sorted(granted))
    consent.last_used_at = now
    db.add(consent)
    await db.flush()


@dataclass(frozen=True)
class GrantedClient:
    consent_id: int
    client_id: str
    client_name: str
    kind: str
    scope: str
    granted_at: datetime
    last_used_at: datetime
    active_families: int


async def list_granted_clients(db: AsyncSession, *, user_id: str) -> list[GrantedClient]:
    rows = (
        await db.exec(
            select(OAuthConsent, OAuthClient)
            .join(OAuthClient, col(OAuthClient.id) == col(OAuthConsent.client_pk))
            .where(OAuthConsent.user_id == user_id)
            .order_by(col(OAuthConsent.last_used_at).desc())
        )
    ).all()
    now = utcnow()
    result: list[GrantedClient] = []
    for consent, client in rows:
        live = (
            await db.exec(
                select(func.count(func.distinct(OAuthToken.family_id))).where(
                    OAuthToken.user_id == user_id,
                    OAuthToken.client_pk == client.id,
                    col(OAuthToken.revoked_at).is_(None),
                    col(OAuthToken.refresh_expires_at) > now,
                )
            )
        ).one()
        assert consent.id is not None
        result.append(
            GrantedClient(
                consent_id=consent.id,
                client_id=client.client_id,
                client_name=client.client_name,
                kind=client.kind,
                scope=consent.scope,
                granted_at=consent.created_at,
                last_used_at=consent.last_used_at,
                active_families=int(live),
            )
        )
    return result


async def revoke_client_grant(
    db: AsyncSession, *, user_id: str, consent_id: int
) -> list[str] | None:
    """Forget the consent and revoke every token the client holds for the user.

    Returns the revoked family ids, or None when the user has no such consent.
    """
    consent = await db.get(OAuthConsent, consent_id)
    if consent is None or consent.user_id != user_id:
        return None
    families = list(
        (
            await db.exec(
                select(OAuthToken.family_id)
                .where(
                    OAuthToken.user_id == user_id,
                    OAuthToken.client_pk == consent.client_pk,
                    col(OAuthToken.revoked_at).is_(None),
                )
                .distinct()
            )
        ).all()
    )
    for family in families:
        await revoke_family(db, family_id=family)
    await db.exec(delete(OAuthConsent).where(col(OAuthConsent.id) == consent_id))
    await db.flush()
    return families


# Used codes are kept this long after they expire, so a late replay is still recognised
# (and revokes what the code issued) rather than looking like an unknown code.
CODE_RETENTION = timedelta(days=1)


async def purge_expired(db: AsyncSession, *, now: datetime | None = None) -> tuple[int, int]:
    """Delete codes and token rows that can never be used again; returns (codes, tokens).

    A token row is dead once its family's absolute lifetime is over (every row of a
    family shares ``refresh_expires_at``, and access tokens never outlive it).
    """
    now = now or utcnow()
    codes = await _update_count(
        db,
        delete(OAuthAuthorizationCode).where(
            col(OAuthAuthorizationCode.expires_at) < now - CODE_RETENTION
        ),
    )
    tokens = await _update_count(
        db,
        delete(OAuthToken).where(
            col(OAuthToken.refresh_expires_at) < now,
            col(OAuthToken.access_expires_at) < now,
        ),
    )
    return codes, tokens


async def _update_count(db: AsyncSession, statement: object) -> int:
    result = await db.exec(statement)  # type: ignore[call-overload]
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
