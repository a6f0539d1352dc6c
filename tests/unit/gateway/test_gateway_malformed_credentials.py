"""Whatever a client posts as a passkey response, the answer is a clear 400, never a 500."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fixtures.gateway import GatewayHarness
from fixtures.passkeys import SoftAuthenticator
from mcpod_gateway.models import Passkey, User
from sqlmodel import func, select


def mutations(valid: dict[str, Any]) -> list[dict[str, Any]]:
    """Broken variants of a valid credential JSON."""
    out: list[dict[str, Any]] = [{}, {"id": None}, {"id": "!!!"}, {"id": "A" * 5000}]
    for key in ("id", "rawId", "type", "response"):
        for bad in (None, 7, "", "***", [], {}):
            broken = copy.deepcopy(valid)
            broken[key] = bad
            out.append(broken)
    for key in list(valid["response"]):
        for bad in (None, 7, "", "!!!", "AAAA", [], {}):
            broken = copy.deepcopy(valid)
            broken["response"][key] = bad
            out.append(broken)
    return out


async def test_malformed_sign_up_responses(gateway: GatewayHarness) -> None:
    authenticator = SoftAuthenticator()
    start = await gateway.post_json("/webauthn/signup/options", {"display_name": "Fuzz"})
    valid = authenticator.create(start.json()["options"])
    for broken in mutations(valid):
        # Each attempt needs a live ceremony: a used one is refused before parsing.
        await gateway.post_json("/webauthn/signup/options", {"display_name": "Fuzz"})
        response = await gateway.post_json("/webauthn/signup/verify", {"credential": broken})
        assert response.status_code == 400, (broken, response.text)
        assert response.json()["error"]
    async with gateway.app.state.sessionmaker() as db:
        assert (await db.exec(select(func.count()).select_from(User))).one() == 0
        assert (await db.exec(select(func.count()).select_from(Passkey))).one() == 0


async def test_malformed_sign_in_responses(
    gateway: GatewayHarness, soft_authenticator: SoftAuthenticator
) -> None:
    await gateway.sign_up(soft_authenticator)
    await gateway.post_form("/signout", {})
    start = await gateway.post_json("/webauthn/signin/options", {})
    valid = soft_authenticator.get(start.json()["options"])
    for broken in mutations(valid):
        await gateway.post_json("/webauthn/signin/options", {})
        response = await gateway.post_json("/webauthn/signin/verify", {"credential": broken})
        assert response.status_code == 400, (broken, response.text)
        assert response.json()["error"]
    assert (await gateway.client.get("/account")).status_code == 303


@pytest.mark.parametrize("body", [{"credential": "text"}, {"credential": []}, {}, {"cred": {}}])
async def test_verify_without_a_credential_object(
    gateway: GatewayHarness, body: dict[str, Any]
) -> None:
    await gateway.post_json("/webauthn/signin/options", {})
    response = await gateway.post_json("/webauthn/signin/verify", body)
    assert response.status_code == 422
    assert "credential" in response.json()["error"]
