"""Passkey ceremonies (py_webauthn): sign-up, usernameless sign-in, adding and removing passkeys.

Challenges are stored server-side, bound to the browser by a ceremony cookie,
single use (the row is deleted before the answer is checked) and expire after
``MCPOD_CHALLENGE_TTL_SECONDS``.  User verification and discoverable
credentials are required: the passkey is the only factor, and sign-in asks for
no user name.  RP ID and origin come from ``MCPOD_PUBLIC_URL``, never from the
request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.generate_user_handle import generate_user_handle
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..models import Invite, Passkey, User, WebAuthnChallenge
from ..models.base import new_user_id, utcnow
from ..settings import Settings

SIGNUP: Final = "signup"
SIGNIN: Final = "signin"
ADD: Final = "add"
FIRST_PASSKEY_NAME: Final = "First passkey"
MAX_CREDENTIAL_JSON = 64 * 1024


class CeremonyError(Exception):
    """A ceremony failed; the message is safe to show to the person."""


@dataclass(frozen=True)
class CeremonyStart:
    ceremony_token: str  # goes into the ceremony cookie, never into the database
    options: dict[str, Any]  # PublicKeyCredential{Creation,Request}OptionsJSON


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _selection() -> AuthenticatorSelectionCriteria:
    return AuthenticatorSelectionCriteria(
        resident_key=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )


async def _store(db: AsyncSession, settings: Settings, row: WebAuthnChallenge) -> str:
    token = secrets.token_urlsafe(32)
    row.ceremony_hash = _hash(token)
    row.expires_at = utcnow() + timedelta(seconds=settings.challenge_ttl_seconds)
    # Expired, unanswered ceremonies are swept here rather than by a timer.
    await db.exec(delete(WebAuthnChallenge).where(col(WebAuthnChallenge.expires_at) < utcnow()))
    db.add(row)
    await db.flush()
    return token


async def _take(db: AsyncSession, ceremony_token: str | None, purpose: str) -> WebAuthnChallenge:
    """Claim a pending ceremony exactly once; raises CeremonyError if gone, used or expired."""
    expired = CeremonyError("This attempt has expired or was already used. Please start again.")
    if not ceremony_token:
        raise expired
    digest = _hash(ceremony_token)
    row = await db.get(WebAuthnChallenge, digest)
    if row is None or row.purpose != purpose:
        raise expired
    claimed = await db.exec(
        delete(WebAuthnChallenge).where(col(WebAuthnChallenge.ceremony_hash) == digest)
    )
    if claimed.rowcount != 1:  # someone else answered it first
        raise expired
    await db.flush()
    if row.expires_at <= utcnow():
        raise expired
    return row


def _credential_id(credential: dict[str, Any]) -> bytes:
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str):
        raise CeremonyError("The browser sent a malformed passkey response.")
    try:
        return base64url_to_bytes(raw)
    except (ValueError, TypeError):
        raise CeremonyError("The browser sent a malformed passkey response.") from None


async def find_invite(db: AsyncSession, invite_token: str | None) -> Invite | None:
    """The unused, unexpired invite for a token, else None."""
    if not invite_token or len(invite_token) > 128:
        return None
    invite = (await db.exec(select(Invite).where(Invite.token_hash == _hash(invite_token)))).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= utcnow():
        return None
    return invite


# ---- sign-up (a new account, or an admin-created account's first passkey) ----


async def begin_signup(
    db: AsyncSession, settings: Settings, *, display_name: str, invite: Invite | None
) -> CeremonyStart:
    user_id, user_handle = new_user_id(), generate_user_handle()
    if invite is not None and invite.user_id is not None:
        existing = await db.get(User, invite.user_id)
        if existing is None:
            raise CeremonyError("This invite is no longer valid.")
        user_id, user_handle, display_name = (
            existing.id,
            existing.webauthn_user_handle,
            existing.display_name,
        )
    options = generate_registration_options(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        user_id=user_handle,
        user_name=display_name,
        user_display_name=display_name,
        authenticator_selection=_selection(),
        timeout=settings.challenge_ttl_seconds * 1000,
    )
    token = await _store(
        db,
        settings,
        WebAuthnChallenge(
            ceremony_hash="",
            purpose=SIGNUP,
            challenge=options.challenge,
            expires_at=utcnow(),
            user_id=user_id,
            user_handle=user_handle,
            display_name=display_name,
            invite_id=invite.id if invite else None,
        ),
    )
    return CeremonyStart(token, options_to_json_dict(options))


async def finish_signup(
    db: AsyncSession, settings: Settings, *, ceremony_token: str | None, credential: dict[str, Any]
) -> User:
    pending = await _take(db, ceremony_token, SIGNUP)
    assert pending.user_id
    assert pending.user_handle
    assert pending.display_name
    verified = _verify_registration(settings, pending, credential)
    if pending.invite_id is not None:
        used = await db.exec(
            update(Invite)
            .where(col(Invite.id) == pending.invite_id, col(Invite.used_at).is_(None))
            .values(used_at=utcnow())
        )
        if used.rowcount != 1:
            raise CeremonyError("This invite was already used.")
    user = await db.get(User, pending.user_id)
    if user is None:
        user = User(
            id=pending.user_id,
            display_name=pending.display_name,
            webauthn_user_handle=pending.user_handle,
        )
        db.add(user)
        await db.flush()
    await _add_passkey_row(db, user.id, verified, credential, FIRST_PASSKEY_NAME)
    return user


# ---- usernameless sign-in ----


async def begin_signin(db: AsyncSession, settings: Settings) -> CeremonyStart:
    options = generate_authentication_options(
        rp_id=settings.rp_id,
        user_verification=UserVerificationRequirement.REQUIRED,
        timeout=settings.challenge_ttl_seconds * 1000,
    )
    token = await _store(
        db,
        settings,
        WebAuthnChallenge(
            ceremony_hash="", purpose=SIGNIN, challenge=options.challenge, expires_at=utcnow()
        ),
    )
    return CeremonyStart(token, options_to_json_dict(options))


async def finish_signin(
    db: AsyncSession, settings: Settings, *, ceremony_token: str | None, credential: dict[str, Any]
) -> User:
    pending = await _take(db, ceremony_token, SIGNIN)
    unknown = CeremonyError(
        "This passkey is not registered here (it may have been removed). "
        "Use another passkey or sign up."
    )
    passkey = (
        await db.exec(select(Passkey).where(Passkey.credential_id == _credential_id(credential)))
    ).first()
    if passkey is None:
        raise unknown
    user = await db.get(User, passkey.user_id)
    if user is None:
        raise unknown
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is not None and (
        not isinstance(handle, str) or base64url_to_bytes(handle) != user.webauthn_user_handle
    ):
        raise unknown
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=pending.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise CeremonyError(f"Sign-in failed: {_reason(exc)}") from None
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    passkey.backed_up = verified.credential_backed_up
    db.add(passkey)
    await db.flush()
    return user


# ---- more passkeys for a signed-in user ----


async def begin_add_passkey(
    db: AsyncSession, settings: Settings, *, user: User, passkey_name: str
) -> CeremonyStart:
    existing = (await db.exec(select(Passkey).where(Passkey.user_id == user.id))).all()
    options = generate_registration_options(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        user_id=user.webauthn_user_handle,
        user_name=user.display_name,
        user_display_name=user.display_name,
        authenticator_selection=_selection(),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in existing],
        timeout=settings.challenge_ttl_seconds * 1000,
    )
    token = await _store(
        db,
        settings,
        WebAuthnChallenge(
            ceremony_hash="",
            purpose=ADD,
            challenge=options.challenge,
            expires_at=utcnow(),
            user_id=user.id,
            passkey_name=passkey_name,
        ),
    )
    return CeremonyStart(token, options_to_json_dict(options))


async def finish_add_passkey(
    db: AsyncSession,
    settings: Settings,
    *,
    user: User,
    ceremony_token: str | None,
    credential: dict[str, Any],
) -> Passkey:
    pending = await _take(db, ceremony_token, ADD)
    if pending.user_id != user.id:
        raise CeremonyError("This attempt belongs to another session. Please start again.")
    verified = _verify_registration(settings, pending, credential)
    return await _add_passkey_row(
        db, user.id, verified, credential, pending.passkey_name or "Passkey"
    )


async def remove_passkey(db: AsyncSession, *, user: User, passkey_id: int) -> bool:
    """Remove one of the user's passkeys unless it is the last one; False if nothing removed."""
    others = (
        select(func.count())
        .select_from(Passkey)
        .where(Passkey.user_id == user.id)
        .scalar_subquery()
    )
    # One statement, so two concurrent removals cannot leave the user with none.
    removed = await db.exec(
        delete(Passkey).where(
            col(Passkey.id) == passkey_id, col(Passkey.user_id) == user.id, others > 1
        )
    )
    return removed.rowcount == 1


async def list_passkeys(db: AsyncSession, *, user_id: str) -> list[Passkey]:
    rows = await db.exec(
        select(Passkey).where(Passkey.user_id == user_id).order_by(col(Passkey.id))
    )
    return list(rows.all())


# ---- shared ----


def _verify_registration(
    settings: Settings, pending: WebAuthnChallenge, credential: dict[str, Any]
) -> Any:
    try:
        return verify_registration_response(
            credential=credential,
            expected_challenge=pending.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise CeremonyError(f"The passkey could not be registered: {_reason(exc)}") from None


async def _add_passkey_row(
    db: AsyncSession, user_id: str, verified: Any, credential: dict[str, Any], name: str
) -> Passkey:
    taken = (
        await db.exec(select(Passkey).where(Passkey.credential_id == verified.credential_id))
    ).first()
    if taken is not None:
        raise CeremonyError("This passkey is already registered.")
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    passkey = Passkey(
        user_id=user_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        device_type=str(getattr(verified.credential_device_type, "value", "")),
        backed_up=bool(verified.credential_backed_up),
        transports=" ".join(t for t in transports if isinstance(t, str))[:128]
        if isinstance(transports, list)
        else "",
    )
    db.add(passkey)
    await db.flush()
    return passkey


def _reason(exc: Exception) -> str:
    # py_webauthn's messages describe the mismatch (origin, challenge, UV…) and
    # hold no secrets; keep them short for the page.
    text = str(exc) or type(exc).__name__
    return text[:200]


def credential_id_text(passkey: Passkey) -> str:
    return bytes_to_base64url(passkey.credential_id)[:12]
