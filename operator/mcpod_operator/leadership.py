"""Leader election: only the replica holding the Lease reconciles; the others stand by.

Chosen over kopf's peering because a Lease needs no extra CRD and only three verbs on one
object kind, in the operator's own namespace; and a standby that takes over re-lists everything,
so handing over mid-reconcile is safe (the reconcile is level-based).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import aiohttp

from mcpod_operator.kube import KubeApi, KubeError
from mcpod_operator.lease import LEASE_SECONDS, RENEW_SECONDS, build_lease, claim, holder, release

logger = logging.getLogger("mcpod.operator.leadership")


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self._last_holder = ""

    async def try_claim(self) -> bool:
        """One attempt to take or keep the Lease."""
        now = datetime.now(UTC)
        lease = await self.api.read_lease(self.namespace, self.name)
        if lease is None:
            body = build_lease(self.namespace, self.name, self.identity, now, self.lease_seconds)
            return await self.api.create_lease(body)
        current = holder(lease)
        if current != self._last_holder:
            if current and current != self.identity:
                logger.info("the operator lease is held by %s; standing by", current)
            self._last_holder = current
        claimed = claim(lease, self.identity, now, self.lease_seconds)
        if claimed is None:
            return False
        return await self.api.replace_lease(claimed)

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease."""
        while True:
            try:
                if await self.try_claim():
                    logger.info("acquired the operator lease %s/%s", self.namespace, self.name)
                    return
            except (KubeError, OSError, aiohttp.ClientError) as error:
                logger.warning("could not read or claim the operator lease: %s", error)
            await asyncio.sleep(self.renew_seconds)

    async def hold(self, lost: asyncio.Event) -> None:
        """Renew until cancelled; set ``lost`` if the Lease cannot be renewed in time."""
        deadline = asyncio.get_running_loop().time() + self.lease_seconds
        while True:
            await asyncio.sleep(self.renew_seconds)
            try:
                renewed = await self.try_claim()
            except (KubeError, OSError, aiohttp.ClientError) as error:
                logger.warning("could not renew the operator lease: %s", error)
                renewed = False
            now = asyncio.get_running_loop().time()
            if renewed:
                deadline = now + self.lease_seconds
            # Stop before the Lease can expire, so two leaders never overlap.
            elif now >= deadline - self.renew_seconds:
                logger.error("lost the operator lease; stopping")
                lost.set()
                return

    async def give_up(self) -> None:
        """Release the Lease on a clean shutdown so a standby need not wait for it to expire."""
        try:
            lease = await self.api.read_lease(self.namespace, self.name)
            body = release(lease, self.identity) if lease else None
            if body is not None:
                await self.api.replace_lease(body)
                logger.info("released the operator lease")
        except (KubeError, OSError, aiohttp.ClientError) as error:
            logger.warning("could not release the operator lease: %s", error)
