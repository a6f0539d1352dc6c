"""Builds the configured backend (``MCPOD_BACKEND``) — used by the app and the admin CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from ..keys import Keys
from ..mcp.settings import McpSettings
from ..settings import BackendKind, Settings
from .backend import ConnectionBackend
from .local import LocalBackend
from .pat_store import PatCipher


async def build_backend(
    settings: Settings,
    keys: Keys,
    sessionmaker: async_sessionmaker[AsyncSession],
    mcp_settings: McpSettings,
) -> ConnectionBackend:
    """A backend, not yet started."""
    if settings.backend is BackendKind.KUBERNETES:
        from .kubernetes import KubernetesBackend, connect_api

        api = await connect_api()
        return KubernetesBackend(api, namespace=settings.namespace, routing_key=keys.routing)
    return LocalBackend(
        sessionmaker,
        cipher=PatCipher(keys.master),
        routing_key=keys.routing,
        data_dir=settings.data_dir,
        default_idle_timeout=mcp_settings.idle_timeout,
        extra_env_names=tuple(mcp_settings.local_bridge_env),
        reap_interval=mcp_settings.local_reap_seconds,
    )
