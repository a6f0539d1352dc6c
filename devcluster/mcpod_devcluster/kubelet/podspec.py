"""Pure translation of a pod spec into local processes, and of their state into pod status.

Nothing here does I/O: Secrets and ConfigMaps are fetched by the caller and
passed in as decoded dicts, so every rule is unit-testable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .imagemap import ImageEntry

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ContainerConfigError(Exception):
    """The container cannot start yet (e.g. a referenced Secret is missing).

    Reported as the kubelet does: waiting, reason CreateContainerConfigError.
    """

    reason = "CreateContainerConfigError"


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known names are replaced, unknown ones kept, $$ escapes."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(repl, value)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise ContainerConfigError(f"unsupported fieldRef {path!r}")


def referenced_objects(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Names of the Secrets and ConfigMaps a pod's containers and volumes need."""
    secrets: set[str] = set()
    config_maps: set[str] = set()
    spec = pod.get("spec", {})
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for var in container.get("env", []):
            source = var.get("valueFrom") or {}
            if "secretKeyRef" in source:
                secrets.add(source["secretKeyRef"]["name"])
            if "configMapKeyRef" in source:
                config_maps.add(source["configMapKeyRef"]["name"])
        for ref in container.get("envFrom", []):
            if "secretRef" in ref:
                secrets.add(ref["secretRef"]["name"])
            if "configMapRef" in ref:
                config_maps.add(ref["configMapRef"]["name"])
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
        if "configMap" in volume:
            config_maps.add(volume["configMap"]["name"])
    return secrets, config_maps


Lookup = Mapping[str, Mapping[str, str] | None]


def _lookup(
    kind: str, objects: Lookup, name: str, key: str | None, optional: bool
) -> str | Mapping[str, str] | None:
    data = objects.get(name)
    if data is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{name}" not found')
    if key is None:
        return data
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {name}")
    return data[key]


def resolve_env(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    *,
    image: ImageEntry,
    secrets: Lookup,
    config_maps: Lookup,
    base: Mapping[str, str],
    node: Mapping[str, str],
) -> dict[str, str]:
    """The process environment: base (host) → image env → envFrom → env → node env."""
    env: dict[str, str] = {**base, **image.env}
    declared: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        prefix = ref.get("prefix", "")
        if "secretRef" in ref:
            r = ref["secretRef"]
            data = _lookup("secret", secrets, r["name"], None, r.get("optional", False))
        else:
            r = ref["configMapRef"]
            data = _lookup("configmap", config_maps, r["name"], None, r.get("optional", False))
        if isinstance(data, Mapping):
            declared.update({prefix + k: val for k, val in data.items()})
    for var in container.get("env", []):
        name = var["name"]
        if "valueFrom" not in var:
            declared[name] = expand(var.get("value", ""), declared)
            continue
        source = var["valueFrom"]
        value: str | Mapping[str, str] | None
        if "secretKeyRef" in source:
            r = source["secretKeyRef"]
            value = _lookup("secret", secrets, r["name"], r["key"], r.get("optional", False))
        elif "configMapKeyRef" in source:
            r = source["configMapKeyRef"]
            value = _lookup("configmap", config_maps, r["name"], r["key"], r.get("optional", False))
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            value = "0"
        else:
            raise ContainerConfigError(f"unsupported valueFrom for {name}")
        if isinstance(value, str):
            declared[name] = value
    env.update(declared)
    context = {**env, "POD_IP": field_value(pod, "status.podIP")}
    env.update({k: expand(val, context) for k, val in node.items()})
    return env


@dataclass(frozen=True)
class Mount:
    path: str
    host: Path


def rewrite_paths(value: str, mounts: list[Mount]) -> str:
    """Point an absolute path under a volume mount at the volume's host directory.

    Processes share one filesystem, so a mount at /scratch becomes a per-pod
    directory; values that name the mount path are rewritten to match.
    """
    for mount in sorted(mounts, key=lambda m: len(m.path), reverse=True):
        base = mount.path.rstrip("/")
        if value == base or value.startswith(base + "/"):
            return str(mount.host) + value[len(base) :]
    return value


def volume_dir(
    volume: Mapping[str, Any], *, pod_dir: Path, state_dir: Path, namespace: str
) -> Path:
    """The host directory standing in for a volume.

    A PersistentVolumeClaim outlives its pods, so it gets one directory per claim under the
    kubelet's state (kept until the cluster's state is removed), shared by every pod that
    mounts it; claims are neither provisioned nor bound. Every other volume is the pod's own.
    """
    claim = volume.get("persistentVolumeClaim")
    if claim:
        return state_dir / "claims" / namespace / str(claim["claimName"])
    return pod_dir / "volumes" / str(volume["name"])


def rewrite_env_paths(
    env: Mapping[str, str], node_supplied: Mapping[str, str], mounts: list[Mount]
) -> dict[str, str]:
    """Apply `rewrite_paths` to the container's own env values only.

    Values the node supplied and the container left alone (the host environment, HOME, the
    service-account KUBECONFIG) are host paths already: rewriting them would break a pod
    that mounts a volume at a prefix of the kubelet's own directory (e.g. an emptyDir at /tmp).
    """
    return {
        k: val if node_supplied.get(k) == val else rewrite_paths(val, mounts)
        for k, val in env.items()
    }


def container_argv(
    container: Mapping[str, Any], image: ImageEntry, env: Mapping[str, str], mounts: list[Mount]
) -> list[str]:
    """Docker semantics: command replaces the entrypoint, args replace cmd.

    Only what the pod spec wrote is rewritten for volume mounts: the image's own
    entrypoint and cmd are host paths already (the image's files are the host's).
    """
    command = container.get("command")
    args = container.get("args")

    def from_pod(items: list[str]) -> list[str]:
        return [rewrite_paths(expand(a, env), mounts) for a in items]

    def from_image(items: tuple[str, ...]) -> list[str]:
        return [expand(a, env) for a in items]

    if command:
        argv = [*from_pod(command), *from_pod(args or [])]
    else:
        tail = from_pod(args) if args is not None else from_image(image.cmd)
        argv = [*from_image(image.entrypoint), *tail]
    if not argv:
        raise ContainerConfigError(f"container {container.get('name')} has no command to run")
    return argv


@dataclass
class ContainerSnapshot:
    """What the kubelet knows about one container, turned into containerStatuses."""

    name: str
    image: str
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": f"process://{self.image}",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def _condition(kind: str, ok: bool, now: str, reason: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason and not ok:
        cond["reason"] = reason
    return cond


def build_pod_status(
    *,
    phase: str,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    now: str,
    init_done: bool,
    containers: list[ContainerSnapshot],
    init_containers: list[ContainerSnapshot],
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    all_ready = bool(containers) and all(c.ready for c in containers)
    conditions = [
        _condition("PodScheduled", True, now),
        _condition("Initialized", init_done, now, "ContainersNotInitialized"),
        _condition("ContainersReady", all_ready, now, "ContainersNotReady"),
        _condition("Ready", all_ready, now, "ContainersNotReady"),
    ]
    # Keep lastTransitionTime when a condition's status did not change.
    before = {c.get("type"): c for c in (previous or {}).get("conditions", []) or []}
    for cond in conditions:
        old = before.get(cond["type"])
        if old and old.get("status") == cond["status"] and old.get("lastTransitionTime"):
            cond["lastTransitionTime"] = old["lastTransitionTime"]
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "containerStatuses": [c.status() for c in containers],
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if init_containers:
        status["initContainerStatuses"] = [c.status() for c in init_containers]
    return status


def pod_phase(restart_policy: str, containers: list[ContainerSnapshot], any_started: bool) -> str:
    """Pending until something ran; Succeeded/Failed once nothing will restart."""
    terminated = [c.state.get("terminated") for c in containers]
    if containers and all(terminated):
        codes = [t["exitCode"] for t in terminated if t]
        if restart_policy == "Never" or (
            restart_policy == "OnFailure" and all(code == 0 for code in codes)
        ):
            return "Succeeded" if all(code == 0 for code in codes) else "Failed"
    if any("running" in c.state for c in containers) or any_started:
        return "Running"
    return "Pending"
