"""The controller: watch-fed caches, a work queue, and workers that apply reconcile plans.

kopf feeds every McpConnection and connection-pod event into ``observe_*``; those only update the
caches and queue the connection's key. A fixed pool of workers takes keys off the queue (one
worker per key at a time), plans with the pure ``reconcile`` module and applies the plan through
``KubeApi``. Idle deadlines and backoffs are delayed re-queues in the same queue: one timer for
all connections, instead of a timer task per object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
from mcpod_common.vocabulary import LABEL_CONNECTION

from mcpod_operator import conditions as c
from mcpod_operator.connection import InvalidConnectionError, parse_connection
from mcpod_operator.events import build_event
from mcpod_operator.kube import KubeApi, KubeError
from mcpod_operator.observe import pod_name
from mcpod_operator.pod import bridge_token_secret_name
from mcpod_operator.reconcile import (
    Failures,
    Plan,
    backoff_delay,
    plan_connection,
    plan_invalid,
    status_patch,
)
from mcpod_operator.settings import Settings
from mcpod_operator.workqueue import WorkQueue

logger = logging.getLogger("mcpod.operator")

Key = tuple[str, str]
ERROR_BACKOFF_CAP: Final = 60.0
# Fire a little after the idle deadline so "now >= deadline" holds when the key comes back.
DEADLINE_SLACK: Final = 0.5


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _resource_version(body: Mapping[str, Any]) -> int | None:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion", ""))
    except ValueError:
        return None


@dataclass
class Counters:
    reconciles: int = 0
    errors: int = 0
    pods_created: int = 0
    pods_deleted: int = 0
    status_patches: int = 0
    events: int = 0


class Controller:
    def __init__(
        self,
        settings: Settings,
        api: KubeApi,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.api = api
        self.clock = clock
        self.queue: WorkQueue[Key] = WorkQueue()
        self.connections: dict[Key, dict[str, Any]] = {}
        self.pods: dict[Key, dict[str, dict[str, Any]]] = {}
        self.failures: dict[Key, Failures] = {}
        self.errors: dict[Key, int] = {}
        self.known_secrets: set[Key] = set()
        self.counters = Counters()
        self._tasks: list[asyncio.Task[None]] = []

    # Fed by the watches (synchronous: they only touch memory).

    def observe_connection(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if event_type == "DELETED":
            # The garbage collector removes the pod and Secrets through their ownerReferences.
            self.connections.pop(key, None)
            self.failures.pop(key, None)
            self.errors.pop(key, None)
            self.queue.forget(key)
            return
        cached = self.connections.get(key)
        new, old = _resource_version(body), _resource_version(cached or {})
        if cached is not None and new is not None and old is not None and new < old:
            # Our own status patch already stored a newer copy; an older event adds nothing.
            return
        self.connections[key] = dict(body)
        self.queue.add(key)

    def observe_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        connection = (meta.get("labels") or {}).get(LABEL_CONNECTION)
        if not connection:
            return
        key = (str(meta.get("namespace", "")), str(connection))
        pods = self.pods.setdefault(key, {})
        if event_type == "DELETED":
            pods.pop(pod_name(body), None)
            if not pods:
                del self.pods[key]
        else:
            pods[pod_name(body)] = dict(body)
        if key in self.connections:
            self.queue.add(key)

    # Workers.

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.queue.run_timer(), name="mcpod-timer")]
        self._tasks += [
            asyncio.create_task(self._work(), name=f"mcpod-worker-{i}")
            for i in range(self.settings.workers)
        ]
        self._tasks.append(asyncio.create_task(self._resync(), name="mcpod-resync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _resync(self) -> None:
        """A safety net: look at every connection now and then, even without events."""
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            for key in list(self.connections):
                self.queue.add(key)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.reconcile(key)
                self.errors.pop(key, None)
            except (KubeError, OSError, TimeoutError, aiohttp.ClientError) as error:
                self.counters.errors += 1
                count = self.errors.get(key, 0) + 1
                self.errors[key] = count
                delay = min(2.0 ** (count - 1), ERROR_BACKOFF_CAP)
                logger.warning(
                    "reconciling %s/%s failed (%s); retrying in %.0fs", *key, error, delay
                )
                self.queue.add_after(key, delay)
            except Exception:
                self.counters.errors += 1
                logger.exception("reconciling %s/%s failed unexpectedly", *key)
                self.queue.add_after(key, ERROR_BACKOFF_CAP)
            finally:
                self.queue.done(key)

    # One reconcile.

    def _plan(self, key: Key, pods: list[dict[str, Any]], now: datetime) -> Plan:
        body = self.connections[key]
        try:
            connection = parse_connection(body)
        except InvalidConnectionError as error:
            return plan_invalid(body, error, pods, now)
        return plan_connection(
            connection,
            pods,
            self.settings,
            now,
            failures=self.failures.get(key, Failures()),
            bridge_secret_known=(
                key[0],
                bridge_token_secret_name(connection, self.settings),
            )
            in self.known_secrets,
        )

    async def reconcile(self, key: Key) -> None:
        if key not in self.connections:
            return
        self.counters.reconciles += 1
        now = self.clock()
        plan = self._plan(key, list(self.pods.get(key, {}).values()), now)
        if plan.create_pod is not None:
            # The watch cache can lag behind (right after a restart, or after our own create):
            # ask the API before creating, so a pod is never created twice.
            live = await self.api.list_connection_pods(*key)
            self.pods[key] = {pod_name(p): p for p in live}
            if not live:
                self.pods.pop(key)
            plan = self._plan(key, live, now)
        await self._apply(key, plan, now)

    async def _apply(self, key: Key, plan: Plan, now: datetime) -> None:
        namespace, name = key
        for pod in plan.delete_pods:
            if await self.api.delete_pod(namespace, pod):
                self.counters.pods_deleted += 1
                logger.info("deleted pod %s/%s of connection %s", namespace, pod, name)
        if plan.forget_bridge_secret and plan.create_secret is not None:
            self.known_secrets.discard((namespace, plan.create_secret["metadata"]["name"]))
        try:
            if plan.create_secret is not None:
                await self.api.create_secret(plan.create_secret)
                self.known_secrets.add((namespace, plan.create_secret["metadata"]["name"]))
            created = plan.create_pod is not None and await self.api.create_pod(plan.create_pod)
        except KubeError as error:
            if error.status in (403, 422):
                # Quota, admission policy, RBAC or validation: retrying at once will not help.
                await self._report_create_failure(key, error, now)
                return
            raise
        if plan.create_pod is not None and created:
            self.counters.pods_created += 1
            logger.info(
                "created pod %s/%s for connection %s",
                namespace,
                plan.create_pod["metadata"]["name"],
                name,
            )
        if plan.pod_exited:
            count = self.failures.get(key, Failures()).count + 1
            self.failures[key] = Failures(count, now + timedelta(seconds=backoff_delay(count)))
        if plan.pod_ready:
            self.failures.pop(key, None)
        await self._write_status(key, plan.status, plan.event, now)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after + DEADLINE_SLACK)

    async def _report_create_failure(self, key: Key, error: KubeError, now: datetime) -> None:
        body = self.connections[key]
        meta = body.get("metadata") or {}
        generation = int(meta.get("generation") or 0)
        current = body.get("status") or {}
        message = f"the API refused the pod or its bridge-token Secret: {error.message}"
        status = {
            "phase": c.PHASE_PENDING,
            "podName": None,
            "observedGeneration": generation,
            "conditions": [
                c.build_condition(
                    type_=c.CONDITION_READY,
                    status=False,
                    reason=c.REASON_CREATE_FAILED,
                    message=message,
                    generation=generation,
                    now=now,
                    previous=current.get("conditions") or [],
                )
            ],
        }
        changed = current.get("phase") != c.PHASE_PENDING or (
            (current.get("conditions") or [{}])[0].get("reason") != c.REASON_CREATE_FAILED
        )
        event = ("Warning", c.REASON_CREATE_FAILED, message) if changed else None
        await self._write_status(key, status, event, now)
        count = self.errors.get(key, 0) + 1
        self.errors[key] = count
        self.queue.add_after(key, min(5.0 * 2 ** (count - 1), 300.0))

    async def _write_status(
        self,
        key: Key,
        status: dict[str, Any],
        event: tuple[str, str, str] | None,
        now: datetime,
    ) -> None:
        body = self.connections.get(key)
        if body is None:
            return
        patch = status_patch(body.get("status") or {}, status)
        if patch is not None:
            try:
                updated = await self.api.patch_connection_status(*key, patch)
            except KubeError as error:
                if error.status == 404:
                    return  # deleted meanwhile
                raise
            self.counters.status_patches += 1
            if key in self.connections:
                self.connections[key] = updated
        if event is not None:
            await self._post_event(body, event, now)

    async def _post_event(
        self, body: Mapping[str, Any], event: tuple[str, str, str], now: datetime
    ) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        type_, reason, message = event
        try:
            await self.api.create_event(
                build_event(
                    namespace=namespace,
                    name=name,
                    uid=str(meta.get("uid", "")),
                    type_=type_,
                    reason=reason,
                    message=message,
                    now=now,
                    instance=self.settings.identity,
                )
            )
        except KubeError as error:
            # An Event is a courtesy; failing to post one must not fail the reconcile.
            logger.warning("could not post an event for %s/%s: %s", namespace, name, error)
            return
        self.counters.events += 1
        logger.info("%s/%s %s: %s", namespace, name, reason, message)
