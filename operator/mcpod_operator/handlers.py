"""The kopf side: every kopf decorator and every kopf setting, each a thin shim into the controller.

Only ``on.event`` handlers are used. They add no finalizer and write nothing on the objects
(no progress or diff-base annotations): a deleted McpConnection never waits for this operator,
so a namespace deletion cannot wedge on it, and its children go through ownerReferences.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from mcpod_common.vocabulary import GROUP, PLURAL, VERSION

from mcpod_operator.controller import Controller
from mcpod_operator.kube import POD_SELECTOR


def configure_kopf(settings: Any, *, verbose: bool) -> None:
    """All kopf settings in one place (called from the startup handler)."""
    # Not used by on.event handlers, but named under our group in case a handler kind that uses
    # them is ever added: nothing of kopf's own vocabulary on our objects.
    settings.persistence.finalizer = f"{GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # We post our own Events on state transitions; kopf's per-handler ones would be noise.
    settings.posting.enabled = False
    settings.posting.level = logging.WARNING
    # Only pods this operator made; filtered by the API server, not after the fact.
    settings.watching.label_selectors["v1", "pods"] = POD_SELECTOR
    # Reconnect a watch the network silently dropped, and list large sets in pages.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.watching.chunk_size = 500
    # No CRD or namespace scanning: fewer permissions (no cluster-wide list of CRDs/namespaces).
    settings.scanning.disabled = True
    # Per-object kopf workers exit soon after the burst: they only hand events to our queue.
    settings.queueing.idle_timeout = 2.0
    settings.networking.request_timeout = 60
    if not verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)


def build_registry(controller: Controller, *, verbose: bool = False) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The same source as our own API client (runner.make_api_client): in-cluster
        # ServiceAccount first, then the kubeconfig.
        info: kopf.ConnectionInfo | None = await kopf.login_via_async_client(**kwargs)
        return info

    @kopf.on.startup(registry=registry)
    async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, verbose=verbose)
        await controller.start()

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        await controller.stop()

    # Async on purpose: kopf runs synchronous handlers in a thread pool, and the controller's
    # caches and queue belong to the event loop.
    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def connection_event(event: kopf.RawEvent, **_: Any) -> None:
        controller.observe_connection(event.get("type"), event["object"])

    @kopf.on.event("v1", "pods", registry=registry)
    async def pod_event(event: kopf.RawEvent, **_: Any) -> None:
        controller.observe_pod(event.get("type"), event["object"])

    return registry
