"""Pure pod-spec translation rules of the process kubelet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcpod_devcluster.kubelet.imagemap import ImageEntry, ImageMap, UnknownImageError
from mcpod_devcluster.kubelet.podspec import (
    ContainerConfigError,
    ContainerSnapshot,
    Mount,
    build_pod_status,
    container_argv,
    expand,
    field_value,
    pod_phase,
    referenced_objects,
    resolve_env,
    rewrite_env_paths,
    rewrite_paths,
    volume_dir,
)

POD: dict[str, Any] = {
    "metadata": {
        "name": "p",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"app": "x"},
        "annotations": {"a/b": "c"},
    },
    "spec": {"nodeName": "n", "serviceAccountName": "sa"},
    "status": {"podIP": "127.20.0.5", "hostIP": "127.0.0.1"},
}


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$(A)-$(B)", {"A": "1", "B": "2"}, "1-2"),
        ("$(MISSING)", {}, "$(MISSING)"),
        ("$$(A)", {"A": "1"}, "$(A)"),
        ("plain", {"A": "1"}, "plain"),
        ("$(A", {"A": "1"}, "$(A"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, env: dict[str, str], expected: str) -> None:
    assert expand(text, env) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "p"),
        ("metadata.namespace", "ns"),
        ("metadata.uid", "u-1"),
        ("status.podIP", "127.20.0.5"),
        ("spec.serviceAccountName", "sa"),
        ("metadata.labels['app']", "x"),
        ("metadata.annotations['a/b']", "c"),
    ],
)
def test_field_refs(path: str, expected: str) -> None:
    assert field_value(POD, path) == expected


def test_unsupported_field_ref_is_a_config_error() -> None:
    with pytest.raises(ContainerConfigError, match="unsupported fieldRef"):
        field_value(POD, "spec.containers[0]")


def test_env_precedence_and_sources() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "LITERAL", "value": "v"},
            {"name": "SHADOW", "value": "pod"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "x"}}},
            {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "REF", "value": "$(ME)/$(LITERAL)"},
            {
                "name": "OPT",
                "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
        ],
    }
    env = resolve_env(
        container,
        POD,
        image=ImageEntry(env={"SHADOW": "image", "IMAGE_ONLY": "i"}),
        secrets={"s": {"k": "secret"}, "nope": None},
        config_maps={"cm": {"x": "y"}},
        base={"PATH": "/bin", "SHADOW": "base"},
        node={"LISTEN": "$(POD_IP):8080"},
    )
    assert env["PATH"] == "/bin"
    assert env["SHADOW"] == "pod"  # pod env beats image env beats host env
    assert env["IMAGE_ONLY"] == "i"
    assert env["S"] == "secret"
    assert env["C"] == "y"
    assert env["CM_x"] == "y"
    assert env["REF"] == "p/v"
    assert "OPT" not in env
    assert env["LISTEN"] == "127.20.0.5:8080"


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({}, 'secret "s" not found'),
        ({"s": None}, 'secret "s" not found'),
        ({"s": {"other": "v"}}, "couldn't find key k in secret s"),
    ],
)
def test_missing_secret_or_key_is_a_config_error(
    secrets: dict[str, dict[str, str] | None], message: str
) -> None:
    container = {"env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(ContainerConfigError, match=message):
        resolve_env(
            container, POD, image=ImageEntry(), secrets=secrets, config_maps={}, base={}, node={}
        )


def test_referenced_objects_cover_env_envfrom_and_volumes() -> None:
    pod = {
        "spec": {
            "initContainers": [{"envFrom": [{"secretRef": {"name": "init-s"}}]}],
            "containers": [
                {
                    "env": [
                        {"name": "a", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
                        {"name": "b", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}},
                    ]
                }
            ],
            "volumes": [
                {"name": "v", "secret": {"secretName": "s2"}},
                {"name": "w", "configMap": {"name": "c2"}},
            ],
        }
    }
    assert referenced_objects(pod) == ({"init-s", "s1", "s2"}, {"c1", "c2"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/scratch", "/host/a"),
        ("/scratch/x/y", "/host/a/x/y"),
        ("/scratchy", "/scratchy"),
        ("/scratch/deep/file", "/host/b/file"),
        ("relative", "relative"),
    ],
)
def test_rewrite_paths_prefers_the_longest_mount(value: str, expected: str) -> None:
    mounts = [Mount("/scratch", Path("/host/a")), Mount("/scratch/deep", Path("/host/b"))]
    assert rewrite_paths(value, mounts) == expected


def test_volume_dir_gives_a_claim_one_directory_for_every_pod() -> None:
    claim = {"name": "data", "persistentVolumeClaim": {"claimName": "gw-data"}}
    for pod_dir in (Path("/state/pods/a"), Path("/state/pods/b")):
        found = volume_dir(claim, pod_dir=pod_dir, state_dir=Path("/state"), namespace="ns")
        assert found == Path("/state/claims/ns/gw-data")
    empty = {"name": "tmp", "emptyDir": {}}
    found = volume_dir(
        empty, pod_dir=Path("/state/pods/a"), state_dir=Path("/state"), namespace="ns"
    )
    assert found == Path("/state/pods/a/volumes/tmp")


def test_env_paths_rewrite_only_the_containers_own_values() -> None:
    """An emptyDir at /tmp must not redirect the kubelet's own /tmp/... KUBECONFIG."""
    mounts = [Mount("/tmp", Path("/state/pod/volumes/tmp"))]
    node = {"KUBECONFIG": "/tmp/state/pod/kubeconfig", "HOME": "/tmp/state/pod/home"}
    env = {
        **node,
        "TMPDIR": "/tmp/work",  # the container's own value
        "CACHE": "/tmp/state/pod/home",  # the container's, though it equals a node value
    }
    assert rewrite_env_paths(env, node, mounts) == {
        "KUBECONFIG": "/tmp/state/pod/kubeconfig",
        "HOME": "/tmp/state/pod/home",
        "TMPDIR": "/state/pod/volumes/tmp/work",
        "CACHE": "/state/pod/volumes/tmp/state/pod/home",
    }
    # A value the container overrides is its own, and is rewritten.
    overridden = {**env, "HOME": "/tmp/home"}
    assert rewrite_env_paths(overridden, node, mounts)["HOME"] == "/state/pod/volumes/tmp/home"


@pytest.mark.parametrize(
    ("container", "image", "expected"),
    [
        ({}, ImageEntry(entrypoint=("bridge",), cmd=("serve",)), ["bridge", "serve"]),
        ({"args": ["x"]}, ImageEntry(entrypoint=("bridge",), cmd=("serve",)), ["bridge", "x"]),
        ({"args": []}, ImageEntry(entrypoint=("bridge",), cmd=("serve",)), ["bridge"]),
        ({"command": ["sh"]}, ImageEntry(entrypoint=("bridge",), cmd=("serve",)), ["sh"]),
        ({"command": ["sh"], "args": ["-c", "$(X)"]}, ImageEntry(), ["sh", "-c", "1"]),
        ({"command": ["cat", "/scratch/f"]}, ImageEntry(), ["cat", "/h/f"]),
    ],
)
def test_container_argv_has_docker_semantics(
    container: dict[str, Any], image: ImageEntry, expected: list[str]
) -> None:
    assert container_argv(container, image, {"X": "1"}, [Mount("/scratch", Path("/h"))]) == expected


def test_container_without_any_command_is_a_config_error() -> None:
    with pytest.raises(ContainerConfigError, match="no command"):
        container_argv({"name": "c"}, ImageEntry(), {}, [])


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("mcpod/connection:0.0.0-fake", "fake"),
        ("mcpod/connection:2.10.0", "real"),
        ("mcpod/connection", "real"),
        ("mcpod/connection@sha256:abc", "real"),
        ("localhost:5000/mcpod/gateway:1", "gateway-with-port"),
    ],
)
def test_image_map_exact_tag_then_repository(image: str, expected: str) -> None:
    images = ImageMap(
        {
            "mcpod/connection:0.0.0-fake": ImageEntry(cmd=("fake",)),
            "mcpod/connection": ImageEntry(cmd=("real",)),
            "localhost:5000/mcpod/gateway": ImageEntry(cmd=("gateway-with-port",)),
        }
    )
    assert images.resolve(image).cmd == (expected,)


def test_unknown_image_names_the_known_ones() -> None:
    with pytest.raises(UnknownImageError, match=r'image "x/y:1" has no local command \(known: a\)'):
        ImageMap({"a": ImageEntry()}).resolve("x/y:1")


def test_image_map_from_json() -> None:
    images = ImageMap.from_json(
        {"img": {"entrypoint": ["a"], "cmd": ["b"], "env": {"K": "v"}, "nodeEnv": {"L": "w"}}}
    )
    entry = images.resolve("img:latest")
    assert (entry.entrypoint, entry.cmd, entry.env, entry.node_env) == (
        ("a",),
        ("b",),
        {"K": "v"},
        {"L": "w"},
    )


def _snap(state: dict[str, Any], **kw: Any) -> ContainerSnapshot:
    return ContainerSnapshot(name="c", image="i", state=state, **kw)


@pytest.mark.parametrize(
    ("policy", "states", "started", "expected"),
    [
        ("Always", [{"waiting": {}}], False, "Pending"),
        ("Always", [{"running": {}}], True, "Running"),
        ("Always", [{"terminated": {"exitCode": 1}}], True, "Running"),
        ("Never", [{"terminated": {"exitCode": 0}}], True, "Succeeded"),
        ("Never", [{"terminated": {"exitCode": 2}}], True, "Failed"),
        ("OnFailure", [{"terminated": {"exitCode": 0}}], True, "Succeeded"),
        ("OnFailure", [{"terminated": {"exitCode": 1}}], True, "Running"),
    ],
)
def test_pod_phase(policy: str, states: list[dict[str, Any]], started: bool, expected: str) -> None:
    assert pod_phase(policy, [_snap(s) for s in states], started) == expected


def test_pod_status_keeps_transition_times_of_unchanged_conditions() -> None:
    first = build_pod_status(
        phase="Running",
        pod_ip="127.20.0.5",
        host_ip="127.0.0.1",
        start_time="t0",
        now="t1",
        init_done=True,
        containers=[_snap({"running": {}}, ready=False)],
        init_containers=[],
    )
    second = build_pod_status(
        phase="Running",
        pod_ip="127.20.0.5",
        host_ip="127.0.0.1",
        start_time="t0",
        now="t2",
        init_done=True,
        containers=[_snap({"running": {}}, ready=True)],
        init_containers=[],
        previous=first,
    )
    by_type = {c["type"]: c for c in second["conditions"]}
    assert by_type["Initialized"]["lastTransitionTime"] == "t1"
    assert by_type["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": "t2",
    }
    assert second["podIP"] == "127.20.0.5"
    assert second["containerStatuses"][0]["ready"] is True


def test_image_paths_are_never_rewritten_even_under_a_mount() -> None:
    """An emptyDir at /tmp must not redirect an image whose files live under /tmp on the host."""
    image = ImageEntry(entrypoint=("/tmp/venv/bin/mcpod-gateway",), cmd=("serve", "/tmp/x"))
    mounts = [Mount("/tmp", Path("/state/pod/volumes/tmp"))]
    assert container_argv({}, image, {}, mounts) == [
        "/tmp/venv/bin/mcpod-gateway",
        "serve",
        "/tmp/x",
    ]
    # What the pod itself wrote still follows the mount.
    assert container_argv({"args": ["/tmp/y"]}, image, {}, mounts) == [
        "/tmp/venv/bin/mcpod-gateway",
        "/state/pod/volumes/tmp/y",
    ]
