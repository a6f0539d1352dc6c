"""A tiny HTTP endpoint for the operator Deployment's probes (MCPOD_HEALTH_LISTEN).

``/healthz`` answers 200 while the event loop runs, leader or standby alike: a standby that is
waiting for the Lease is healthy, and restarting it would not help. The body says which role the
replica has, for people running ``kubectl exec … curl``.
"""

from __future__ import annotations

from aiohttp import web


class HealthServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.role = "starting"
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text=f"ok ({self.role})\n")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
