"""How parts of the gateway plug into the app: one :class:`Feature` per part.

A feature contributes routers and, optionally, a lifespan for the long-lived
resources it owns (a connection backend, an MCP session manager, watchers…), and
``endpoints``: bare ASGI apps served by exact path ahead of the middleware stack and
the router, for hot, bearer-only APIs that need neither (``/mcp``).  Such an endpoint
does its own authentication and sets its own response headers.
Feature lifespans run inside the core lifespan, in list order, after the
database, keys and bearer verifier are ready on ``app.state``; they are exited in
reverse order on shutdown.

To add a part: write ``FEATURE = Feature(...)`` in your module and append it in
:func:`mcpod_gateway.app.gateway_features`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

FeatureLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Feature:
    name: str
    routers: Sequence[APIRouter] = ()
    lifespan: FeatureLifespan | None = None
    endpoints: Mapping[str, ASGIApp] = field(default_factory=dict)
