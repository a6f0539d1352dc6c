"""The dev cluster's supervisor process: owns every child and stops them in order.

Run by `mcpod-dev-cluster up` (detached) and by the test fixtures (as a child
that dies with the test run).  It writes state.json once everything is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kubernetes_asyncio import client, config

from .binaries import control_plane_bin_dir
from .controlplane import ControlPlane
from .crds import apply_crds, load_crds
from .kubelet import ProcessKubelet
from .kubelet.imagemap import ImageMap, default_image_map
from .kubelet.runtime import Backoff
from .processes import CLUSTER_ID_ENV, sweep
from .state import ClusterState

log = logging.getLogger("mcpod-dev-cluster")

# What container processes inherit from the host; everything else comes from
# the pod spec and the image map, as in a real container.
PASS_THROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYENV_ROOT", "PYENV_VERSION")


def container_base_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ}
    # Console scripts of this interpreter first, so images map to this install.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def upstream_dir() -> Path:
    cache = os.environ.get("MCPOD_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcpod"
    )
    return Path(cache) / "upstream"


async def supervise(
    state_dir: Path, image_map: ImageMap, backoff: Backoff, cluster_id: str | None = None
) -> int:
    t0 = time.monotonic()
    cluster_id = cluster_id or uuid.uuid4().hex[:12]
    # Only our children carry the marker; the supervisor is watched by pid.
    os.environ[CLUSTER_ID_ENV] = cluster_id
    start_reaper(cluster_id)
    host_env = {k: val for k, val in os.environ.items() if k != CLUSTER_ID_ENV}
    cp = ControlPlane(
        state_dir=state_dir,
        bin_dir=control_plane_bin_dir(),
        cluster_id=cluster_id,
        base_env=host_env,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    kubelet: ProcessKubelet | None = None
    kubelet_task: asyncio.Task[None] | None = None
    api: client.ApiClient | None = None
    try:
        await cp.start_api()
        api = await config.new_client_from_config(config_file=str(cp.kubeconfig_path))
        await apply_crds(api, load_crds())
        # The garbage collector discovers resource types at start: CRDs first.
        await cp.start_controller_manager()
        assert cp.credentials is not None
        kubelet = ProcessKubelet(
            api,
            state_dir=state_dir,
            images=image_map,
            base_env=container_base_env(),
            server=cp.server,
            ca_pem=cp.credentials.ca_cert.read_bytes(),
            cluster_id=cluster_id,
            backoff=backoff,
        )
        kubelet_task = asyncio.create_task(kubelet.run())
        ClusterState(
            pid=os.getpid(),
            cluster_id=cluster_id,
            server=cp.server,
            kubeconfig=str(cp.kubeconfig_path),
            api_ready_s=round(cp.timings["api_ready_s"], 3),
            up_s=round(time.monotonic() - t0, 3),
        ).write(state_dir)
        log.info("dev cluster %s ready in %.2fs", cluster_id, time.monotonic() - t0)
        stopper = asyncio.create_task(stop.wait())
        watchdog = asyncio.create_task(_watch_children(cp))
        done, _ = await asyncio.wait(
            {stopper, kubelet_task, watchdog}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (stopper, watchdog):
            task.cancel()
        if kubelet_task in done and kubelet_task.exception():
            log.error("process kubelet failed: %r", kubelet_task.exception())
            return 1
        return 0
    finally:
        (state_dir / "state.json").unlink(missing_ok=True)
        if kubelet_task is not None:
            kubelet_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await kubelet_task
        if kubelet is not None:
            await kubelet.shutdown()
        if api is not None:
            await api.close()
        await cp.stop()
        sweep(cluster_id, rounds=1)


def start_reaper(cluster_id: str) -> None:
    """Start the watchdog that sweeps our processes if this supervisor dies."""
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcpod_devcluster.reaper",
            "--watch",
            str(os.getpid()),
            "--cluster-id",
            cluster_id,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _watch_children(cp: ControlPlane) -> None:
    await cp.wait_any_exit()
    log.error("a control-plane process exited: %s", cp.alive())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcpod_devcluster.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--image-map", type=Path, help="JSON file with extra image entries")
    parser.add_argument("--backoff-cap", type=float, default=20.0)
    parser.add_argument("--cluster-id", default=None, help="default: random")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    images = default_image_map(upstream_dir())
    if args.image_map:
        images = images.merged(ImageMap.load(args.image_map))
    args.state_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(
        supervise(args.state_dir, images, Backoff(cap=args.backoff_cap), args.cluster_id)
    )


if __name__ == "__main__":
    sys.exit(main())
