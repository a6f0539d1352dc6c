"""Run the operator: API client, leader election, then kopf with our registry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import kopf
from kubernetes_asyncio import client, config

from mcpod_operator.controller import Controller
from mcpod_operator.handlers import build_registry
from mcpod_operator.health import HealthServer
from mcpod_operator.kube import KubeApi
from mcpod_operator.leadership import LeaderElector
from mcpod_operator.settings import Settings

logger = logging.getLogger("mcpod.operator")


async def make_api_client() -> client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


async def _wait_for_leadership(elector: LeaderElector) -> bool:
    """Acquire the Lease; False if a stop signal came first (kopf's own handlers are not yet
    installed while we stand by)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        acquire = asyncio.create_task(elector.acquire())
        stop = asyncio.create_task(stopping.wait())
        await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (acquire, stop):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return not stopping.is_set()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def run_operator(settings: Settings, *, verbose: bool = False) -> int:
    """Run until a signal (exit 0) or until the Lease is lost (exit 1: restart as a candidate)."""
    api_client = await make_api_client()
    api = KubeApi(api_client)
    elector: LeaderElector | None = None
    lost = asyncio.Event()
    holding: asyncio.Task[None] | None = None
    health: HealthServer | None = None
    try:
        if settings.health_listen is not None:
            health = HealthServer(*settings.health_listen)
            await health.start()
        if settings.leader_election:
            if health is not None:
                health.role = "standby"
            elector = LeaderElector(
                api,
                namespace=settings.lease_namespace,
                name=settings.lease_name,
                identity=settings.identity,
            )
            logger.info(
                "waiting for the operator lease %s/%s as %s",
                settings.lease_namespace,
                settings.lease_name,
                settings.identity,
            )
            if not await _wait_for_leadership(elector):
                return 0
            holding = asyncio.create_task(elector.hold(lost))
        if health is not None:
            health.role = "leader" if settings.leader_election else "single replica"
        controller = Controller(settings, api)
        logger.info(
            "watching McpConnections in %s",
            "all namespaces" if settings.all_namespaces else ", ".join(settings.namespaces),
        )
        await kopf.operator(
            registry=build_registry(controller, verbose=verbose),
            standalone=True,
            clusterwide=settings.all_namespaces,
            namespaces=list(settings.namespaces),
            stop_flag=lost,
        )
        return 1 if lost.is_set() else 0
    finally:
        if holding is not None:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await holding
        if elector is not None and not lost.is_set():
            await elector.give_up()
        if health is not None:
            await health.stop()
        await api_client.close()
