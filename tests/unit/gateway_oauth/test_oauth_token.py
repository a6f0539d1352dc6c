"""The token endpoint's rules: single-use codes, PKCE at /token, refresh rotation and reuse,
absolute lifetimes, resource binding; and revocation (RFC 7009)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fixtures.gateway import running_gateway
from mcpod_gateway.models import OAuthAuthorizationCode, OAuthClient, OAuthToken
from mcpod_gateway.models.base import utcnow
from mcpod_gateway.oauth import store
from sqlalchemy import update
from sqlmodel import col, select
from support.oauth_flow import (
    LOOPBACK_REDIRECT,
    AuthRequest,
    SignedIn,
    approve,
    exchange_code,
    new_auth_request,
    redirect_query,
    refresh,
    register_client,
)


async def obtain_code(
    s: SignedIn, redirect_uri: str = LOOPBACK_REDIRECT
) -> tuple[AuthRequest, str]:
    auth = new_auth_request(s.client_id, redirect_uri)
    answer = await approve(s.gw.client, auth.url())
    return auth, redirect_query(answer)["code"]


async def obtain_tokens(s: SignedIn) -> dict[str, Any]:
    auth, code = await obtain_code(s)
    tokens = await exchange_code(s.gw.client, auth, code)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def error_of(response: httpx.Response) -> str:
    return str(response.json()["error"])


async def access_works(s: SignedIn, token: str) -> bool:
    return await s.gw.app.state.bearer_verifier.verify(token) is not None


# ---- authorization codes --------------------------------------------------------


async def test_code_replay_fails_and_revokes_the_tokens_it_issued(signed_in: SignedIn) -> None:
    auth, code = await obtain_code(signed_in)
    first = await exchange_code(signed_in.gw.client, auth, code)
    assert first.status_code == 200
    tokens = first.json()
    assert await access_works(signed_in, tokens["access_token"])
    replay = await exchange_code(signed_in.gw.client, auth, code)
    assert replay.status_code == 400
    assert error_of(replay) == "invalid_grant"
    assert not await access_works(signed_in, tokens["access_token"])
    renewed = await refresh(signed_in.gw.client, signed_in.client_id, tokens["refresh_token"])
    assert error_of(renewed) == "invalid_grant"


async def test_wrong_verifier_is_invalid_grant_and_burns_the_code(
    signed_in_sqlite: SignedIn,
) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    wrong = await exchange_code(s.gw.client, auth, code, code_verifier="x" * 50)
    assert error_of(wrong) == "invalid_grant"
    right = await exchange_code(s.gw.client, auth, code)
    assert error_of(right) == "invalid_grant"  # a code is tried once


async def test_missing_verifier_is_invalid_request(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    answer = await exchange_code(s.gw.client, auth, code, code_verifier=None)
    assert error_of(answer) == "invalid_request"
    assert "code_verifier" in answer.json()["error_description"]


async def test_verifier_without_a_challenge_is_rejected(signed_in_sqlite: SignedIn) -> None:
    """RFC 9700 §4.8: a code issued without a challenge cannot be redeemed with a verifier."""
    s = signed_in_sqlite
    async with s.gw.app.state.sessionmaker() as db:
        client = await store.get_client(db, s.client_id)
        assert client is not None
        assert client.id is not None
        await store.save_code(
            db, code="c" * 43, client_pk=client.id, user_id=s.user_id,
            redirect_uri=LOOPBACK_REDIRECT, scope="mcp", resource=s.gw.settings.public_url + "/mcp",
            code_challenge="", code_challenge_method="", lifetime=timedelta(minutes=1),
        )  # fmt: skip
        await db.commit()
    auth = new_auth_request(s.client_id, LOOPBACK_REDIRECT)
    answer = await exchange_code(s.gw.client, auth, "c" * 43)
    assert error_of(answer) == "invalid_request"
    assert "no 'code_challenge'" in answer.json()["error_description"]


async def test_expired_code_is_invalid_grant(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(
            update(OAuthAuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    assert error_of(await exchange_code(s.gw.client, auth, code)) == "invalid_grant"


async def test_code_is_bound_to_its_client(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    other = (await register_client(s.gw.client, [LOOPBACK_REDIRECT], "Other")).json()["client_id"]
    answer = await exchange_code(s.gw.client, auth, code, client_id=other)
    assert error_of(answer) == "invalid_grant"


async def test_code_is_bound_to_its_redirect_uri(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s, "http://127.0.0.1:40000/callback")
    answer = await exchange_code(
        s.gw.client, auth, code, redirect_uri="http://127.0.0.1:40001/callback"
    )
    assert error_of(answer) == "invalid_grant"
    assert "redirect_uri" in answer.json()["error_description"]


async def test_code_is_bound_to_its_resource(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    answer = await exchange_code(s.gw.client, auth, code, resource="https://other.example/mcp")
    assert answer.status_code == 400
    assert error_of(answer) == "invalid_target"
    # The resource is checked before the code is used: the right request still works.
    assert (await exchange_code(s.gw.client, auth, code)).status_code == 200


async def test_unknown_client_at_token_is_401_invalid_client(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    auth, code = await obtain_code(s)
    answer = await exchange_code(s.gw.client, auth, code, client_id="forgotten-client")
    assert answer.status_code == 401
    assert error_of(answer) == "invalid_client"


async def test_token_endpoint_bad_requests(signed_in_sqlite: SignedIn) -> None:
    client = signed_in_sqlite.gw.client
    as_json = await client.post("/token", json={"grant_type": "authorization_code"})
    assert as_json.status_code == 400
    assert error_of(as_json) == "invalid_request"
    password = await client.post(
        "/token", data={"grant_type": "password", "username": "a", "password": "b"}
    )
    assert error_of(password) == "unsupported_grant_type"
    implicit = await client.post("/token", data={"grant_type": "client_credentials"})
    assert error_of(implicit) == "unsupported_grant_type"
    no_code = await client.post(
        "/token", data={"grant_type": "authorization_code", "client_id": signed_in_sqlite.client_id}
    )
    assert error_of(no_code) == "invalid_request"
    huge = await client.post("/token", data={"grant_type": "refresh_token", "x": "y" * 20_000})
    assert huge.status_code == 400
    assert "larger than" in huge.json()["error_description"]
    assert huge.headers["access-control-allow-origin"] == "*"


# ---- refresh tokens --------------------------------------------------------------


async def test_rotation_and_reuse_after_grace_revokes_the_family(signed_in: SignedIn) -> None:
    s = signed_in
    first = await obtain_tokens(s)
    second = (await refresh(s.gw.client, s.client_id, first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert await access_works(s, second["access_token"])
    # Move the rotation out of the grace window, then present the old token again.
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(
            update(OAuthToken)
            .where(col(OAuthToken.rotated_at).is_not(None))
            .values(rotated_at=utcnow() - timedelta(minutes=10))
        )
        await db.commit()
    reuse = await refresh(s.gw.client, s.client_id, first["refresh_token"])
    assert reuse.status_code == 400
    assert error_of(reuse) == "invalid_grant"
    assert not await access_works(s, second["access_token"])
    after = await refresh(s.gw.client, s.client_id, second["refresh_token"])
    assert error_of(after) == "invalid_grant"


async def test_previous_token_within_grace_renews_once_and_drops_the_unused_successor(
    signed_in: SignedIn,
) -> None:
    s = signed_in
    first = await obtain_tokens(s)
    lost = (await refresh(s.gw.client, s.client_id, first["refresh_token"])).json()
    retry = await refresh(s.gw.client, s.client_id, first["refresh_token"])
    assert retry.status_code == 200, retry.text
    current = retry.json()
    assert not await access_works(s, lost["access_token"])  # the lost answer is void
    assert (
        error_of(await refresh(s.gw.client, s.client_id, lost["refresh_token"])) == "invalid_grant"
    )
    # ...and that counts as reuse: the family is gone, the retry's tokens too.
    assert not await access_works(s, current["access_token"])


async def test_previous_token_after_its_successor_was_used_is_reuse(
    signed_in_sqlite: SignedIn,
) -> None:
    s = signed_in_sqlite
    first = await obtain_tokens(s)
    second = (await refresh(s.gw.client, s.client_id, first["refresh_token"])).json()
    third = (await refresh(s.gw.client, s.client_id, second["refresh_token"])).json()
    reuse = await refresh(s.gw.client, s.client_id, first["refresh_token"])
    assert error_of(reuse) == "invalid_grant"
    assert not await access_works(s, third["access_token"])


async def test_refresh_family_has_an_absolute_lifetime(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    first = await obtain_tokens(s)
    second = (await refresh(s.gw.client, s.client_id, first["refresh_token"])).json()
    async with s.gw.app.state.sessionmaker() as db:
        rows = (await db.exec(select(OAuthToken).order_by(col(OAuthToken.id)))).all()
        assert rows[0].refresh_expires_at == rows[1].refresh_expires_at  # rotation never extends
        await db.exec(update(OAuthToken).values(refresh_expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    assert (
        error_of(await refresh(s.gw.client, s.client_id, second["refresh_token"]))
        == "invalid_grant"
    )


async def test_refresh_is_bound_to_client_and_resource(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    other = (await register_client(s.gw.client, [LOOPBACK_REDIRECT], "Other")).json()["client_id"]
    stolen = await refresh(s.gw.client, other, tokens["refresh_token"])
    assert error_of(stolen) == "invalid_grant"
    foreign = await refresh(
        s.gw.client, s.client_id, tokens["refresh_token"], resource="https://other.example/mcp"
    )
    assert error_of(foreign) == "invalid_target"
    # Neither attempt rotated the token.
    assert (await refresh(s.gw.client, s.client_id, tokens["refresh_token"])).status_code == 200


async def test_expired_access_token_is_refused(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(update(OAuthToken).values(access_expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    s.gw.app.state.oauth.verifier.forget_user(s.user_id)
    assert not await access_works(s, tokens["access_token"])


async def test_access_token_for_another_resource_is_refused(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(update(OAuthToken).values(resource="https://other.example/mcp"))
        await db.commit()
    s.gw.app.state.oauth.verifier.forget_user(s.user_id)
    assert not await access_works(s, tokens["access_token"])
    answer = await s.gw.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {tokens['access_token']}", "accept": "application/json"},
    )
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


# ---- revocation ---------------------------------------------------------------------


async def revoke(
    client: httpx.AsyncClient, client_id: str, token: str, **extra: str
) -> httpx.Response:
    return await client.post("/revoke", data={"token": token, "client_id": client_id, **extra})


async def test_revoking_the_refresh_token_ends_the_grant(signed_in: SignedIn) -> None:
    s = signed_in
    tokens = await obtain_tokens(s)
    answer = await revoke(
        s.gw.client, s.client_id, tokens["refresh_token"], token_type_hint="refresh_token"
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert not await access_works(s, tokens["access_token"])
    assert (
        error_of(await refresh(s.gw.client, s.client_id, tokens["refresh_token"]))
        == "invalid_grant"
    )


async def test_revoking_the_access_token_ends_the_grant(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    assert (await revoke(s.gw.client, s.client_id, tokens["access_token"])).status_code == 200
    assert not await access_works(s, tokens["access_token"])
    assert (
        error_of(await refresh(s.gw.client, s.client_id, tokens["refresh_token"]))
        == "invalid_grant"
    )


async def test_revocation_bad_requests(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    unknown = await revoke(s.gw.client, s.client_id, "mcpod_ort_unknown")
    assert unknown.status_code == 200  # RFC 7009 §2.2: nothing to say about unknown tokens
    no_client = await s.gw.client.post("/revoke", data={"token": tokens["access_token"]})
    assert no_client.status_code == 401
    assert error_of(no_client) == "invalid_client"
    no_token = await s.gw.client.post("/revoke", data={"client_id": s.client_id})
    assert error_of(no_token) == "invalid_request"
    bad_hint = await revoke(
        s.gw.client, s.client_id, tokens["access_token"], token_type_hint="id_token"
    )
    assert error_of(bad_hint) == "unsupported_token_type"
    other = (await register_client(s.gw.client, [LOOPBACK_REDIRECT], "Other")).json()["client_id"]
    foreign = await revoke(s.gw.client, other, tokens["access_token"])
    assert foreign.status_code == 400
    assert await access_works(s, tokens["access_token"])  # another client cannot revoke it


async def test_tokens_are_stored_only_as_hashes(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    db_path = s.gw.settings.effective_database_url.removeprefix("sqlite+aiosqlite:///")
    from pathlib import Path

    raw = Path(db_path).read_bytes()
    for wal in Path(db_path).parent.glob("*.db-wal"):
        raw += wal.read_bytes()
    for secret in (tokens["access_token"], tokens["refresh_token"]):
        assert secret.encode() not in raw
    async with s.gw.app.state.sessionmaker() as db:
        assert (await db.exec(select(OAuthClient))).first() is not None


async def test_token_without_the_mcp_scope_gets_403_insufficient_scope(
    signed_in_sqlite: SignedIn,
) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(update(OAuthToken).values(scope="other"))
        await db.commit()
    s.gw.app.state.oauth.verifier.forget_user(s.user_id)
    answer = await s.gw.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {tokens['access_token']}", "accept": "application/json"},
    )
    assert answer.status_code == 403
    challenge = answer.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp"' in challenge
    assert "/.well-known/oauth-protected-resource/mcp" in challenge


async def test_mcp_challenges_without_and_with_a_bad_token(signed_in_sqlite: SignedIn) -> None:
    client = signed_in_sqlite.gw.client
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    anonymous = await client.post("/mcp", json=body)
    assert anonymous.status_code == 401
    assert "error=" not in anonymous.headers["www-authenticate"]  # RFC 6750 §3.1
    assert 'scope="mcp"' in anonymous.headers["www-authenticate"]
    forged = await client.post(
        "/mcp", json=body, headers={"authorization": "Bearer mcpod_oat_" + "A" * 43}
    )
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]


async def test_deleting_a_user_removes_their_grants(signed_in: SignedIn) -> None:
    from mcpod_gateway import accounts
    from mcpod_gateway.models import OAuthConsent

    s = signed_in
    tokens = await obtain_tokens(s)
    async with s.gw.app.state.sessionmaker() as db:
        await accounts.delete_user(db, user_id=s.user_id)
        await db.commit()
        for model in (OAuthToken, OAuthAuthorizationCode, OAuthConsent):
            assert (await db.exec(select(model))).all() == []
    s.gw.app.state.oauth.verifier.forget_user(s.user_id)
    assert not await access_works(s, tokens["access_token"])


async def test_dead_codes_and_tokens_are_purged_live_ones_kept(signed_in: SignedIn) -> None:
    s = signed_in
    live = await obtain_tokens(s)
    dead = await obtain_tokens(s)
    async with s.gw.app.state.sessionmaker() as db:
        rows = (await db.exec(select(OAuthToken).order_by(col(OAuthToken.id)))).all()
        past = utcnow() - timedelta(days=2)
        await db.exec(
            update(OAuthToken)
            .where(col(OAuthToken.id) == rows[1].id)
            .values(refresh_expires_at=past, access_expires_at=past)
        )
        await db.exec(update(OAuthAuthorizationCode).values(expires_at=past))
        await db.commit()
        codes, tokens = await store.purge_expired(db)
        await db.commit()
        assert (codes, tokens) == (2, 1)
        assert len((await db.exec(select(OAuthToken))).all()) == 1
    s.gw.app.state.oauth.verifier.forget_user(s.user_id)
    assert await access_works(s, live["access_token"])
    assert not await access_works(s, dead["access_token"])


async def test_token_endpoint_rate_limit_keeps_cors(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    async with running_gateway(url, tmp_path, oauth_rate_per_minute=2) as gw:
        answers = [
            await gw.client.post("/token", data={"grant_type": "refresh_token"}) for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [401, 401, 429]  # no client_id, then limited
    assert answers[2].headers["access-control-allow-origin"] == "*"
    assert int(answers[2].headers["retry-after"]) >= 1


async def test_refresh_scope_ignores_unknown_but_never_widens(signed_in_sqlite: SignedIn) -> None:
    s = signed_in_sqlite
    tokens = await obtain_tokens(s)
    renewed = await refresh(
        s.gw.client, s.client_id, tokens["refresh_token"], scope="mcp offline_access"
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["scope"] == "mcp"
    async with s.gw.app.state.sessionmaker() as db:
        await db.exec(update(OAuthToken).values(scope="narrow"))
        await db.commit()
    widened = await refresh(s.gw.client, s.client_id, renewed.json()["refresh_token"], scope="mcp")
    assert error_of(widened) == "invalid_scope"
