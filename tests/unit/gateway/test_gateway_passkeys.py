"""Passkey accounts over the real HTTP endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import timedelta

from fixtures.gateway import GatewayHarness
from fixtures.passkeys import SoftAuthenticator
from mcpod_gateway.models import Passkey, User, WebAuthnChallenge
from mcpod_gateway.models.base import utcnow
from sqlmodel import func, select


async def count(harness: GatewayHarness, model: type) -> int:
    async with harness.app.state.sessionmaker() as db:
        return int((await db.exec(select(func.count()).select_from(model))).one())


async def test_sign_up_then_usernameless_sign_in(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    user_id = await gateway.sign_up(soft_authenticator, "Ada Lovelace")
    account = await gateway.client.get("/account")
    assert account.status_code == 200
    assert "Ada Lovelace" in account.text
    assert user_id in account.text

    signout = await gateway.post_form("/signout", {})
    assert signout.status_code == 303
    assert (await gateway.client.get("/account")).status_code == 303  # signed out

    signed_in = await gateway.sign_in(soft_authenticator)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json() == {"redirect": "/connections"}
    assert (await gateway.client.get("/account")).status_code == 200
    async with gateway.app.state.sessionmaker() as db:
        passkey = (await db.exec(select(Passkey).where(Passkey.user_id == user_id))).one()
    assert passkey.sign_count == 1  # the assertion's counter was stored
    assert passkey.last_used_at is not None


async def test_session_is_rotated_at_sign_in(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    before = gateway.client.cookies.get("mcpod_session")
    assert (await gateway.sign_in(soft_authenticator)).status_code == 200
    after = gateway.client.cookies.get("mcpod_session")
    assert before
    assert after
    assert before != after
    # The old cookie no longer signs anyone in.
    gateway.client.cookies.set("mcpod_session", before)
    assert (await gateway.client.get("/account")).status_code == 303


async def test_replayed_sign_in_response_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    start = await gateway.post_json("/webauthn/signin/options", {})
    ceremony = gateway.client.cookies.get("mcpod_ceremony")
    assertion = soft_authenticator.get(start.json()["options"])
    first = await gateway.post_json("/webauthn/signin/verify", {"credential": assertion})
    assert first.status_code == 200
    # Replay the same response with the same ceremony cookie: the challenge is gone.
    gateway.client.cookies.set("mcpod_ceremony", ceremony or "")
    again = await gateway.post_json("/webauthn/signin/verify", {"credential": assertion})
    assert again.status_code == 400
    assert "expired or was already used" in again.json()["error"]


async def test_expired_challenge_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    start = await gateway.post_json("/webauthn/signup/options", {"display_name": "Late"})
    async with gateway.app.state.sessionmaker() as db:
        row = (await db.exec(select(WebAuthnChallenge))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.add(row)
        await db.commit()
    credential = soft_authenticator.create(start.json()["options"])
    done = await gateway.post_json("/webauthn/signup/verify", {"credential": credential})
    assert done.status_code == 400
    assert "expired" in done.json()["error"]
    assert await count(gateway, User) == 0
    assert await count(gateway, WebAuthnChallenge) == 0  # consumed anyway


async def test_wrong_origin_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    start = await gateway.post_json("/webauthn/signup/options", {"display_name": "Eve"})
    credential = soft_authenticator.create(start.json()["options"], origin="https://evil.example")
    done = await gateway.post_json("/webauthn/signup/verify", {"credential": credential})
    assert done.status_code == 400
    assert "origin" in done.json()["error"].lower()
    assert await count(gateway, User) == 0


async def test_sign_in_without_user_verification_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    await gateway.post_form("/signout", {})
    soft_authenticator.user_verified = False
    refused = await gateway.sign_in(soft_authenticator)
    assert refused.status_code == 400
    assert "verif" in refused.json()["error"].lower()
    assert (await gateway.client.get("/account")).status_code == 303


async def test_sign_up_without_user_verification_is_refused(
    gateway: GatewayHarness,
) -> None:
    authenticator = SoftAuthenticator(user_verified=False)
    start = await gateway.post_json("/webauthn/signup/options", {"display_name": "No UV"})
    assert start.json()["options"]["authenticatorSelection"]["userVerification"] == "required"
    assert start.json()["options"]["authenticatorSelection"]["residentKey"] == "required"
    credential = authenticator.create(start.json()["options"])
    done = await gateway.post_json("/webauthn/signup/verify", {"credential": credential})
    assert done.status_code == 400
    assert await count(gateway, User) == 0


async def test_tampered_signature_is_refused(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    await gateway.post_form("/signout", {})
    start = await gateway.post_json("/webauthn/signin/options", {})
    assertion = copy.deepcopy(soft_authenticator.get(start.json()["options"]))
    assertion["response"]["signature"] = assertion["response"]["signature"][:-4] + "AAAA"
    refused = await gateway.post_json("/webauthn/signin/verify", {"credential": assertion})
    assert refused.status_code == 400
    assert (await gateway.client.get("/account")).status_code == 303


async def test_unknown_passkey_is_refused(gateway: GatewayHarness) -> None:
    stranger = SoftAuthenticator()
    # A credential this gateway never registered (made for a different ceremony).
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"})
    refused = await gateway.sign_in(stranger)
    assert refused.status_code == 400
    assert "not registered" in refused.json()["error"]


async def test_add_second_passkey_and_remove_but_never_the_last(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    user_id = await gateway.sign_up(soft_authenticator)
    start = await gateway.post_json(
        "/webauthn/passkeys/options",
        {"name": "Backup key"},
        csrf=await gateway.csrf_token("/account"),
    )
    assert start.status_code == 200, start.text
    options = start.json()["options"]
    assert len(options["excludeCredentials"]) == 1  # the first passkey
    second = SoftAuthenticator()
    credential = second.create(options)
    done = await gateway.post_json(
        "/webauthn/passkeys/verify",
        {"credential": credential},
        csrf=await gateway.csrf_token("/account"),
    )
    assert done.status_code == 200, done.text
    async with gateway.app.state.sessionmaker() as db:
        keys = (await db.exec(select(Passkey).where(Passkey.user_id == user_id))).all()
    assert sorted(k.name for k in keys) == ["Backup key", "First passkey"]

    # The second authenticator signs in to the same account.
    await gateway.post_form("/signout", {})
    assert (await gateway.sign_in(second)).status_code == 200

    first_id, second_id = sorted(k.id for k in keys if k.id is not None)
    removed = await gateway.post_form(f"/account/passkeys/{first_id}/delete", {})
    assert removed.status_code == 303
    last = await gateway.post_form(f"/account/passkeys/{second_id}/delete", {})
    assert last.status_code == 400
    assert "last one" in last.text
    assert await count(gateway, Passkey) == 1


async def test_cannot_remove_another_users_passkey(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator, "Victim")
    victim_key = soft_authenticator.credentials[-1].credential_id
    await gateway.post_form("/signout", {})
    attacker = SoftAuthenticator()
    await gateway.sign_up(attacker, "Attacker")
    async with gateway.app.state.sessionmaker() as db:
        target = (await db.exec(select(Passkey).where(Passkey.credential_id == victim_key))).one()
    refused = await gateway.post_form(f"/account/passkeys/{target.id}/delete", {})
    assert refused.status_code == 400
    assert await count(gateway, Passkey) == 2
