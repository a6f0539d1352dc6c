"""etcd + kube-apiserver + kube-controller-manager as local processes.

Flags follow what controller-runtime's envtest uses, plus what our tests need:
a garbage collector and namespace controller (owned objects and namespaces
really go away), deployments and replica sets (the Helm chart), service
accounts and the root-CA publisher (pods that talk to the API).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import yaml

from .kubeconfig import build_kubeconfig
from .pki import ClusterCredentials, create_credentials
from .processes import CLUSTER_ID_ENV, free_port, spawn, stop_process

CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "endpointslice-controller",
    "ttl-after-finished-controller",
)


class StartupError(RuntimeError):
    pass


@dataclass
class ControlPlane:
    state_dir: Path
    bin_dir: Path
    cluster_id: str
    base_env: dict[str, str]
    apiserver_port: int = 0
    etcd_port: int = 0
    credentials: ClusterCredentials | None = None
    _procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kubeconfig"

    def _env(self) -> dict[str, str]:
        return {**self.base_env, CLUSTER_ID_ENV: self.cluster_id}

    def _log(self, name: str) -> IO[bytes]:
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        handle = (self.state_dir / "logs" / f"{name}.log").open("ab")
        self._logs.append(handle)
        return handle

    async def start_api(self) -> None:
        """Start etcd and kube-apiserver and wait until the API server is ready."""
        t0 = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.credentials = creds = create_credentials(self.state_dir / "pki")
        self.etcd_port, peer = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self._procs["etcd"] = await spawn(
            [
                str(self.bin_dir / "etcd"),
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            env=self._env(),
            log=self._log("etcd"),
        )
        self.apiserver_port = free_port()
        self._procs["kube-apiserver"] = await spawn(
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                "--advertise-address=127.0.0.1",
                # From 1.37 a loopback advertise address is refused without this.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.state_dir / 'apiserver-certs'}",
                f"--tls-cert-file={creds.serving_cert}",
                f"--tls-private-key-file={creds.serving_key}",
                f"--client-ca-file={creds.ca_cert}",
                f"--token-auth-file={creds.token_file}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={creds.service_account_key}",
                f"--service-account-signing-key-file={creds.service_account_key}",
                "--allow-privileged=true",
                # Pods get API credentials from the process kubelet (a kubeconfig
                # with a TokenRequest token), not from a projected volume.
                "--disable-admission-plugins=ServiceAccount",
                "--v=0",
            ],
            env=self._env(),
            log=self._log("kube-apiserver"),
        )
        await self._wait_ready(limit_s=60)
        kubeconfig = build_kubeconfig(
            server=self.server, ca_pem=creds.ca_cert.read_bytes(), token=creds.admin_token
        )
        self.kubeconfig_path.touch(mode=0o600, exist_ok=True)
        self.kubeconfig_path.write_text(yaml.safe_dump(kubeconfig))
        self.timings["api_ready_s"] = time.monotonic() - t0

    async def start_controller_manager(self) -> None:
        assert self.credentials is not None
        self._procs["kube-controller-manager"] = await spawn(
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--root-ca-file={self.credentials.ca_cert}",
                f"--service-account-private-key-file={self.credentials.service_account_key}",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=10",
                "--v=0",
            ],
            env=self._env(),
            log=self._log("kube-controller-manager"),
        )

    async def _wait_ready(self, limit_s: float) -> None:
        assert self.credentials is not None
        deadline = time.monotonic() + limit_s
        headers = {"Authorization": f"Bearer {self.credentials.admin_token}"}
        last = ""
        async with httpx.AsyncClient(verify=str(self.credentials.ca_cert), timeout=2) as http:
            while time.monotonic() < deadline:
                for name, proc in self._procs.items():
                    if proc.returncode is not None:
                        raise StartupError(
                            f"{name} exited with {proc.returncode}; "
                            f"see {self.state_dir / 'logs' / (name + '.log')}"
                        )
                try:
                    r = await http.get(f"{self.server}/readyz", headers=headers)
                    if r.status_code == 200:
                        return
                    last = f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise StartupError(f"kube-apiserver not ready after {limit_s}s: {last}")

    async def wait_any_exit(self) -> None:
        waits = [asyncio.create_task(p.wait()) for p in self._procs.values()]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def alive(self) -> dict[str, bool]:
        return {name: proc.returncode is None for name, proc in self._procs.items()}

    async def stop(self) -> None:
        # Order matters: with etcd gone first, kube-apiserver keeps retrying and
        # ignores SIGTERM for a long time.
        for name, grace in (
            ("kube-controller-manager", 3.0),
            ("kube-apiserver", 5.0),
            ("etcd", 3.0),
        ):
            proc = self._procs.pop(name, None)
            if proc is not None:
                await stop_process(proc, grace)
        for handle in self._logs:
            with contextlib.suppress(OSError):
                handle.close()
        self._logs.clear()
