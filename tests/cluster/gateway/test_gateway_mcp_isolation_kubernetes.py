"""The isolation suite (tests/e2e/gateway/isolation_suite.py) on the kubernetes backend:
a served gateway with MCPOD_BACKEND=kubernetes, the real operator, pods from the process kubelet."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from e2e.gateway.isolation_suite import (
    World,
    build_world,
    check_colliding_slugs_reach_only_the_callers_pod,
    check_forged_headers_change_nothing,
    check_listing_shows_only_own_connections,
    check_name_trick,
    check_not_yours_looks_like_does_not_exist,
    check_revoked_and_deleted_tokens_are_refused,
)
from e2e.gateway.name_tricks import name_tricks
from fixtures.cluster import ControlPlaneHandle
from fixtures.mcp_gateway import served_gateway_env, start_served_gateway
from gateway_kube_support import KubeWorld, create_namespace, start_operator, stop_process
from hypothesis import HealthCheck, given, settings
from mcpod_common.vocabulary import ANNOTATION_LAST_ACTIVITY, LABEL_OWNER, LABEL_SLUG


def _untouched(world: KubeWorld) -> Callable[[str], Callable[[], bool]]:
    def for_owner(owner: str) -> Callable[[], bool]:
        def check() -> bool:
            done = world.control_plane.kubectl(
                "-n",
                world.namespace,
                "get",
                "mcpconnections",
                "-o",
                "json",
                "-l",
                f"{LABEL_OWNER}={owner},{LABEL_SLUG}=secret",
            )
            items = json.loads(done.stdout)["items"]
            assert len(items) == 1
            # Nobody ever woke it: the gateway never stamped its last activity.
            annotations = items[0]["metadata"].get("annotations") or {}
            return ANNOTATION_LAST_ACTIVITY not in annotations

        return check

    return for_owner


@pytest.fixture(scope="module")
def world(
    control_plane: ControlPlaneHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    import secrets

    data = tmp_path_factory.mktemp("isolation-kubernetes")
    kube = KubeWorld(control_plane, create_namespace(control_plane), secrets.token_hex(32))
    kube.operator = start_operator(kube, data / "operator.log")
    env = served_gateway_env(data, **kube.gateway_env())
    served = start_served_gateway(env, data / "gateway.log")
    try:
        yield build_world(env, served.url, data / "gateway.db", _untouched(kube))
    finally:
        served.stop()
        stop_process(kube.operator)
        control_plane.kubectl("delete", "namespace", kube.namespace, "--wait=false", check=False)


def test_colliding_slugs(world: World) -> None:
    check_colliding_slugs_reach_only_the_callers_pod(world)


def test_listing(world: World) -> None:
    check_listing_shows_only_own_connections(world)


def test_not_yours_is_not_there(world: World) -> None:
    check_not_yours_looks_like_does_not_exist(world)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=name_tricks())
def test_name_tricks(world: World, name: str) -> None:
    check_name_trick(world, name)


def test_name_tricks_never_woke_the_other_connection(world: World) -> None:
    for name in (
        "secret__core_list_projects",
        "SECRET__core_list_projects",
        "secret__connection_unavailable",
    ):
        check_name_trick(world, name)
    assert world.secret_untouched()


def test_forged_headers(world: World) -> None:
    check_forged_headers_change_nothing(world)


def test_revoked_and_deleted(world: World) -> None:
    check_revoked_and_deleted_tokens_are_refused(world)
