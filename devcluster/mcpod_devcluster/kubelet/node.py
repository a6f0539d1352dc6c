"""The process kubelet: a Ready Node whose pods run as local processes.

Each pod gets its own loopback address (all of 127.0.0.0/8 is local on Linux)
reported as status.podIP; its containers run with env resolved from literals,
Secrets, ConfigMaps and the downward API; probes, restarts and graceful
deletion follow the real kubelet closely enough for operators to be tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from ..kubeconfig import build_kubeconfig
from ..processes import CLUSTER_ID_ENV
from .api import KubeletApi
from .imagemap import ImageMap, UnknownImageError
from .podspec import (
    ContainerConfigError,
    Mount,
    build_pod_status,
    container_argv,
    pod_phase,
    referenced_objects,
    resolve_env,
    rewrite_env_paths,
    rewrite_paths,
    volume_dir,
)
from .runtime import Backoff, ContainerRunner, Launch, now_rfc3339

log = logging.getLogger(__name__)

NODE_NAME = "mcpod-process-node"
HOST_IP = "127.0.0.1"


class ImagePullError(ContainerConfigError):
    reason = "ErrImagePull"


class PodWorker:
    def __init__(self, kubelet: ProcessKubelet, pod: dict[str, Any], pod_ip: str) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.pod_ip = pod_ip
        self.dir = kubelet.state_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}"
        self.start_time = now_rfc3339()
        self.runners: list[ContainerRunner] = []
        self.init_runners: list[ContainerRunner] = []
        self.init_done = False
        self._changed = asyncio.Event()
        self._terminating = False
        self._last_status: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self._status_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._status_task = asyncio.create_task(self._status_loop())
        self.task = asyncio.create_task(self._run())

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod

    def changed(self) -> None:
        self._changed.set()

    def _runner(self, spec: dict[str, Any], *, init: bool) -> ContainerRunner:
        pod_spec = self.pod["spec"]
        return ContainerRunner(
            spec=spec,
            pod_ip=self.pod_ip,
            restart_policy=pod_spec.get("restartPolicy", "Always"),
            prepare=lambda: self._prepare(spec),
            log_path=self.dir / "logs" / f"{spec['name']}.log",
            grace=float(pod_spec.get("terminationGracePeriodSeconds", 30)),
            backoff=self.kubelet.backoff,
            changed=self.changed,
            http=self.kubelet.http,
            run_to_completion=init,
        )

    async def _run(self) -> None:
        spec = self.pod["spec"]
        self.init_runners = [self._runner(c, init=True) for c in spec.get("initContainers", [])]
        self.runners = [self._runner(c, init=False) for c in spec.get("containers", [])]
        self.changed()
        for runner in self.init_runners:
            code = await runner.run()
            if runner.stopping or code != 0:
                return
        self.init_done = True
        self.changed()
        await asyncio.gather(*(r.run() for r in self.runners))
        self.changed()

    async def terminate(self, grace: float, *, delete: bool) -> None:
        if self._terminating:
            return
        self._terminating = True
        await asyncio.gather(*(r.stop(grace) for r in [*self.init_runners, *self.runners]))
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if delete:
            try:
                await self.kubelet.api.delete_now(self.namespace, self.name, self.uid)
            except ApiException as exc:
                log.warning("final delete of %s/%s failed: %s", self.namespace, self.name, exc)
        if self._status_task is not None:
            self._status_task.cancel()
        shutil.rmtree(self.dir / "volumes", ignore_errors=True)

    # -- status ----------------------------------------------------------
    def status(self) -> dict[str, Any]:
        snapshots = [r.snapshot for r in self.runners]
        any_started = any(r.snapshot.restart_count or r.snapshot.started for r in self.runners)
        phase = pod_phase(self.pod["spec"].get("restartPolicy", "Always"), snapshots, any_started)
        if (
            any(
                "terminated" in r.snapshot.state and r.snapshot.state["terminated"]["exitCode"] != 0
                for r in self.init_runners
            )
            and self.pod["spec"].get("restartPolicy") == "Never"
        ):
            phase = "Failed"
        return build_pod_status(
            phase=phase,
            pod_ip=self.pod_ip,
            host_ip=HOST_IP,
            start_time=self.start_time,
            now=now_rfc3339(),
            init_done=self.init_done or not self.init_runners,
            containers=snapshots,
            init_containers=[r.snapshot for r in self.init_runners],
            previous=self._last_status,
        )

    async def _status_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            await asyncio.sleep(0.02)  # coalesce bursts of changes into one patch
            status = self.status()
            if status == self._last_status:
                continue
            try:
                await self.kubelet.api.patch_status(self.namespace, self.name, status)
                self._last_status = status
            except ApiException as exc:
                if exc.status == 404:
                    return
                log.warning("status patch of %s/%s: %s", self.namespace, self.name, exc.reason)
                await asyncio.sleep(0.5)
                self._changed.set()
            except (
                OSError,
                httpx.HTTPError,
                client.exceptions.ApiException,
            ) as exc:  # pragma: no cover
                log.warning("status patch of %s/%s: %s", self.namespace, self.name, exc)
                await asyncio.sleep(0.5)
                self._changed.set()

    # -- container preparation --------------------------------------------
    async def _prepare(self, container: dict[str, Any]) -> Launch:
        api = self.kubelet.api
        try:
            image = self.kubelet.images.resolve(container.get("image", ""))
        except UnknownImageError as exc:
            raise ImagePullError(str(exc)) from exc
        secret_names, config_map_names = referenced_objects(self.pod)
        secrets = {n: await api.read_secret(self.namespace, n) for n in secret_names}
        config_maps = {n: await api.read_config_map(self.namespace, n) for n in config_map_names}
        mounts = self._mounts(container, secrets, config_maps)
        home = self.dir / "containers" / container["name"]
        home.mkdir(parents=True, exist_ok=True)
        base = {
            **self.kubelet.base_env,
            "HOME": str(home),
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.kubelet.api_port),
        }
        if self.pod["spec"].get("automountServiceAccountToken", True):
            base["KUBECONFIG"] = str(await self._service_account_kubeconfig())
        pod_view = {**self.pod, "status": {"podIP": self.pod_ip, "hostIP": HOST_IP}}
        env = resolve_env(
            container,
            pod_view,
            image=image,
            secrets=secrets,
            config_maps=config_maps,
            base=base,
            node=image.node_env,
        )
        # Host and image values are host paths already; only the pod's own are rewritten.
        env = rewrite_env_paths(env, {**base, **image.env}, mounts)
        argv = container_argv(container, image, env, mounts)
        workdir = container.get("workingDir")
        cwd = Path(rewrite_paths(workdir, mounts)) if workdir else home
        cwd.mkdir(parents=True, exist_ok=True)
        return Launch(argv=argv, env=env, cwd=cwd)

    def _mounts(
        self,
        container: dict[str, Any],
        secrets: dict[str, dict[str, str] | None],
        config_maps: dict[str, dict[str, str] | None],
    ) -> list[Mount]:
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        mounts = []
        for vm in container.get("volumeMounts", []):
            volume = volumes.get(vm["name"])
            if volume is None:
                raise ContainerConfigError(f'volume "{vm["name"]}" not found in pod spec')
            host = volume_dir(
                volume,
                pod_dir=self.dir,
                state_dir=self.kubelet.state_dir,
                namespace=self.namespace,
            )
            host.mkdir(parents=True, exist_ok=True)
            data: dict[str, str] | None = None
            if "secret" in volume:
                data = secrets.get(volume["secret"]["secretName"])
                if data is None and not volume["secret"].get("optional"):
                    raise ContainerConfigError(
                        f'secret "{volume["secret"]["secretName"]}" not found'
                    )
            elif "configMap" in volume:
                data = config_maps.get(volume["configMap"]["name"])
                if data is None and not volume["configMap"].get("optional"):
                    raise ContainerConfigError(
                        f'configmap "{volume["configMap"]["name"]}" not found'
                    )
            for key, value in (data or {}).items():
                target = host / key
                target.write_text(value)
                target.chmod(0o600)
            sub = vm.get("subPath")
            mounts.append(Mount(path=vm["mountPath"], host=host / sub if sub else host))
        return mounts

    async def _service_account_kubeconfig(self) -> Path:
        named = self.pod["spec"].get("serviceAccountName")
        account = named or "default"
        token = await self.kubelet.api.service_account_token(
            self.namespace, account, self.name, self.uid, bind=bool(named)
        )
        if token is None:
            raise ContainerConfigError(f'serviceaccount "{account}" not found')
        doc = build_kubeconfig(
            server=self.kubelet.server,
            ca_pem=self.kubelet.ca_pem,
            token=token,
            user=f"system:serviceaccount:{self.namespace}:{account}",
            namespace=self.namespace,
        )
        path = self.dir / "serviceaccount" / "kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(yaml.safe_dump(doc))
        return path


class ProcessKubelet:
    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        state_dir: Path,
        images: ImageMap,
        base_env: dict[str, str],
        server: str,
        ca_pem: bytes,
        cluster_id: str,
        backoff: Backoff | None = None,
        node_name: str = NODE_NAME,
    ) -> None:
        self.api = KubeletApi(api_client)
        self.state_dir = state_dir
        self.images = images
        self.base_env = {**base_env, CLUSTER_ID_ENV: cluster_id}
        self.server = server
        self.api_port = int(server.rsplit(":", 1)[1])
        self.ca_pem = ca_pem
        self.backoff = backoff or Backoff()
        self.node_name = node_name
        self.workers: dict[str, PodWorker] = {}
        self.http = httpx.AsyncClient()
        # A range per cluster (127.<20..219>.x.y, chosen by the cluster id): several clusters on
        # one machine (parallel test sessions, a developer's own) must not hand out the same
        # pod address, or a probe or a client reaches another cluster's pod.
        second = 20 + int(hashlib.sha256(cluster_id.encode()).hexdigest(), 16) % 200
        self._next_ip = int(ipaddress.ip_address(f"127.{second}.0.1"))
        self._binding: set[str] = set()
        # Strong references to fire-and-forget terminations (the loop keeps only weak ones).
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def allocate_ip(self) -> str:
        while True:
            self._next_ip += 1
            ip = ipaddress.ip_address(self._next_ip)
            if ip.packed[-1] not in (0, 255):
                return str(ip)

    async def run(self) -> None:
        await self.api.register_node(self.node_name, HOST_IP, now_rfc3339())
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                pods, version = await self.api.list_pods()
                for pod in pods:
                    await self._handle("ADDED", pod)
                try:
                    async for kind, pod in self.api.watch_pods(version):
                        if kind == "ERROR":
                            break
                        if kind == "BOOKMARK":
                            continue
                        await self._handle(kind, pod)
                except ApiException as exc:
                    if exc.status != 410:
                        raise
                except (httpx.HTTPError, OSError, TimeoutError) as exc:
                    log.warning("pod watch interrupted: %s", exc)
                    await asyncio.sleep(0.5)
        finally:
            heartbeat.cancel()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(20)
            with contextlib.suppress(Exception):
                await self.api.heartbeat(self.node_name, HOST_IP, now_rfc3339())

    async def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec", {})
        uid = meta["uid"]
        node = spec.get("nodeName")
        if not node:
            scheduler = spec.get("schedulerName", "default-scheduler")
            if (
                kind != "DELETED"
                and not meta.get("deletionTimestamp")
                and scheduler == "default-scheduler"
                and uid not in self._binding
            ):
                self._binding.add(uid)
                try:
                    await self.api.bind(meta["namespace"], meta["name"], self.node_name)
                except ApiException as exc:
                    log.warning("binding %s/%s: %s", meta["namespace"], meta["name"], exc.reason)
            return
        if node != self.node_name:
            return
        worker = self.workers.get(uid)
        if kind == "DELETED":
            self._binding.discard(uid)
            if worker is not None:
                self.workers.pop(uid, None)
                self._spawn(worker.terminate(1.0, delete=False))
            return
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = spec.get("terminationGracePeriodSeconds", 30)
            if worker is not None:
                worker.update(pod)
                self._spawn(worker.terminate(float(grace), delete=True))
            else:
                await self.api.delete_now(meta["namespace"], meta["name"], uid)
            return
        if worker is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            worker = PodWorker(self, pod, self.allocate_ip())
            self.workers[uid] = worker
            worker.start()
        else:
            worker.update(pod)

    async def shutdown(self, grace: float = 2.0) -> None:
        workers = list(self.workers.values())
        self.workers.clear()
        await asyncio.gather(
            *(w.terminate(grace, delete=False) for w in workers), return_exceptions=True
        )
        await self.http.aclose()
