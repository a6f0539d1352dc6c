"""The never-bleed guarantee, as checks that run against any backend.

A world of users whose connection slugs collide is built through the admin CLI
against a served gateway; the checks then talk to ``/mcp`` over HTTP like any
agent would.  Used by the local-backend tests here and by the kubernetes-backend
tests in tests/cluster/gateway/.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fixtures.mcp_gateway import admin_cli, modern_request, sentinel_pat

ALICE_ORG = "alice-org"
BOB_ORG = "bob-org"
BOB_SECRET_ORG = "bob-secret-org"


@dataclass
class World:
    url: str
    alice_id: str
    alice: str
    bob_id: str
    bob: str
    carol: str
    revoked: str
    deleted: str
    # True while Bob's "secret" connection has never been started (no bridge, no pod).
    secret_untouched: Callable[[], bool]


def build_world(
    env: dict[str, str], url: str, database: Path, untouched: Callable[[str], Callable[[], bool]]
) -> World:
    """Users: Alice (work), Bob (work + secret), Carol (none), one revoked token, one deleted user.

    ``untouched(owner_id)`` returns the check that Bob's "secret" was never started.
    """

    def user(name: str) -> tuple[str, str]:
        uid = admin_cli(env, "create-user", "--name", name)
        return uid, admin_cli(env, "create-token", "--user", uid, "--name", f"{name}-agent")

    def connection(uid: str, slug: str, org: str) -> None:
        admin_cli(
            env,
            "create-connection",
            "--user",
            uid,
            "--slug",
            slug,
            "--org",
            org,
            "--domains",
            "core",
            stdin=sentinel_pat(slug) + "\n",
        )

    alice_id, alice = user("alice")
    bob_id, bob = user("bob")
    _carol_id, carol = user("carol")
    connection(alice_id, "work", ALICE_ORG)
    connection(bob_id, "work", BOB_ORG)
    connection(bob_id, "secret", BOB_SECRET_ORG)
    revoked_id, revoked = user("revoked")
    connection(revoked_id, "work", "revoked-org")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE api_tokens SET revoked_at = created_at WHERE user_id = ?", (revoked_id,))
    deleted_id, deleted = user("deleted")
    admin_cli(env, "delete-user", "--user", deleted_id)
    return World(
        url=url,
        alice_id=alice_id,
        alice=alice,
        bob_id=bob_id,
        bob=bob,
        carol=carol,
        revoked=revoked,
        deleted=deleted,
        secret_untouched=untouched(bob_id),
    )


def rpc(
    world: World,
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> httpx.Response:
    body, headers = modern_request(method, params)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    headers.update(extra_headers or {})
    return httpx.post(world.url, json=body, headers=headers, timeout=120)


def tool_names(world: World, token: str) -> list[str]:
    reply = rpc(world, token, "tools/list")
    assert reply.status_code == 200, reply.text
    return [t["name"] for t in reply.json()["result"]["tools"]]


def call(world: World, token: str, name: str, **arguments: Any) -> dict[str, Any]:
    reply = rpc(world, token, "tools/call", {"name": name, "arguments": arguments})
    body: dict[str, Any] = reply.json()
    return body


def organization_of(answer: dict[str, Any]) -> str:
    result = answer["result"]
    assert not result.get("isError"), result
    return str(json.loads(result["content"][0]["text"])["organization"])


def error_text(answer: dict[str, Any], name: str) -> tuple[int, str]:
    """The JSON-RPC error with the tool name the caller sent blanked out."""
    error = answer["error"]
    return int(error["code"]), str(error["message"]).replace(name, "<name>")


# ---- the checks ----


def check_colliding_slugs_reach_only_the_callers_pod(world: World) -> None:
    assert organization_of(call(world, world.alice, "work__core_list_projects")) == ALICE_ORG
    assert organization_of(call(world, world.bob, "work__core_list_projects")) == BOB_ORG
    assert organization_of(call(world, world.alice, "work__core_list_projects")) == ALICE_ORG


def check_listing_shows_only_own_connections(world: World) -> None:
    alice_tools = tool_names(world, world.alice)
    assert all(n == "list_connections" or n.startswith("work__") for n in alice_tools)
    assert not any(n.startswith("secret__") for n in alice_tools)
    listed = call(world, world.alice, "list_connections")["result"]["content"][0]["text"]
    connections = json.loads(listed)["connections"]
    assert [(c["connection"], c["organization"]) for c in connections] == [("work", ALICE_ORG)]
    assert BOB_ORG not in listed
    assert BOB_SECRET_ORG not in listed
    assert tool_names(world, world.carol) == ["list_connections"]


def check_not_yours_looks_like_does_not_exist(world: World) -> None:
    for tool in ("core_list_projects", "connection_unavailable", "nope"):
        theirs = f"secret__{tool}"
        nobodys = f"absent__{tool}"
        assert error_text(call(world, world.alice, theirs), theirs) == error_text(
            call(world, world.alice, nobodys), nobodys
        )
    assert world.secret_untouched()


def check_name_trick(world: World, name: str) -> None:
    """Any name that is not byte-for-byte one of Alice's tools is unknown to Alice."""
    answer = rpc(world, world.alice, "tools/call", {"name": name, "arguments": {}})
    text = answer.text
    assert BOB_SECRET_ORG not in text
    assert BOB_ORG not in text
    if answer.status_code == 200 and "result" in answer.json():
        # Only Alice's own tools may answer, and only from her organization.
        assert name.startswith("work__") or name == "list_connections", name
    else:
        assert "error" in answer.json()


def check_forged_headers_change_nothing(world: World) -> None:
    forged = {
        "x-forwarded-user": world.bob_id,
        "x-mcpod-owner": world.bob_id,
        "x-remote-user": world.bob_id,
        "x-forwarded-for": "10.0.0.1",
        "forwarded": f"for=10.0.0.1;user={world.bob_id}",
    }
    reply = rpc(
        world,
        world.alice,
        "tools/call",
        {"name": "work__core_list_projects", "arguments": {}},
        forged,
    )
    assert organization_of(reply.json()) == ALICE_ORG
    assert call(world, world.alice, "secret__core_list_projects").get("error")
    # Bob's legacy session is no use with Alice's token.
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "1"},
        },
    }
    base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    opened = httpx.post(
        world.url, json=init, headers={**base, "authorization": f"Bearer {world.bob}"}, timeout=60
    )
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    stolen = httpx.post(
        world.url,
        json=listing,
        headers={**base, "mcp-session-id": session, "authorization": f"Bearer {world.alice}"},
        timeout=60,
    )
    assert stolen.status_code == 404
    assert "secret__" not in stolen.text
    assert world.secret_untouched()


def check_revoked_and_deleted_tokens_are_refused(world: World) -> None:
    for token in (world.revoked, world.deleted, world.alice + "x", "mcpod_at_" + "A" * 43):
        for method in ("tools/list", "tools/call"):
            reply = rpc(world, token, method, {"name": "work__core_list_projects", "arguments": {}})
            assert reply.status_code == 401
            assert "work__" not in reply.text
    assert rpc(world, None, "tools/list").status_code == 401
