"""Notifier entry point: `autopilot serve notifier` (started by `autopilot up` too).

A FastStream NATS app with the notifier's three durable consumers (`handlers.py`), the webhook
store opened in its lifespan, and `/health`, `/readyz`, `/metrics` on its HTTP side.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress

import httpx
from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.nats import NatsBroker

from services.notifier.config import NotifierSettings
from services.notifier.delivery import USER_AGENT
from services.notifier.handlers import Notifier
from services.notifier.metrics import NotifierMetrics
from shared.events import ensure_stream
from shared.infra.embedded import ensure_servers
from shared.infra.webhooks import PostgresWebhooks
from shared.logs import configure
from shared.swarm.service import probe_routes


class NotifierService:
    """Broker, consumers, store and HTTP client of one notifier process."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.metrics = NotifierMetrics(settings.metrics_enabled)
        self.broker = NatsBroker(
            settings.nats_url or "nats://127.0.0.1:4222",
            name=f"autopilot-{settings.service_name}",
            graceful_timeout=settings.webhook_timeout_seconds + 5.0,
        )
        self.notifier = Notifier(settings, self.broker, self.metrics)
        self.notifier.subscribe()
        self.store: PostgresWebhooks | None = None
        self._ready = False

    @asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        """The webhook store, the HTTP client and the stream; the broker connects here too."""
        async with AsyncExitStack() as stack:
            self.store = await stack.enter_async_context(
                PostgresWebhooks.open(
                    self.settings.database_url or "", key=self.settings.aes_key_bytes()
                )
            )
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(self.settings.webhook_timeout_seconds),
                    follow_redirects=False,
                    headers={"User-Agent": USER_AGENT},
                )
            )
            self.notifier.attach(self.store, http)
            connection = await self.broker.connect()
            await ensure_stream(
                connection.jetstream(), self.settings.stream_name, self.settings.subject_prefix
            )
            self._ready = True
            try:
                yield
            finally:
                self._ready = False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[NotifierService]:
        """The whole service without the HTTP side (tests, embedding)."""
        async with self.resources():
            await self.broker.start()
            try:
                yield self
            finally:
                await self.broker.stop()

    async def readiness(self) -> dict[str, bool]:
        """What /readyz checks: started, NATS connected, Postgres answering."""
        checks = {"started": self._ready, "nats": False, "postgres": False}
        with suppress(Exception):
            checks["nats"] = bool(await self.broker.ping(timeout=1.0))
        if self.store is not None:
            with suppress(Exception):
                await self.store.ping()
                checks["postgres"] = True
        return checks

    def http_routes(self) -> list[tuple[str, ASGIApp]]:
        """/health (alive), /readyz (can work), /metrics (Prometheus)."""
        return probe_routes(self.readiness, self.metrics.registry)

    def asgi_app(self) -> AsgiFastStream:
        """The ASGI app: the broker runs in its lifespan, HTTP serves probes and metrics."""
        return AsgiFastStream(self.broker, asgi_routes=self.http_routes(), lifespan=self.resources)


async def serve(settings: NotifierSettings) -> None:
    """Run until SIGTERM; embedded NATS/Postgres when their URLs are unset (local mode)."""
    servers = await ensure_servers(settings)
    try:
        settings = settings.model_copy(
            update={"nats_url": servers.nats_url, "database_url": servers.database_url}
        )
        await (
            NotifierService(settings)
            .asgi_app()
            .run(
                run_extra_options={
                    "host": settings.listen_host(settings.notifier_host),
                    "port": settings.notifier_port,
                }
            )
        )
    finally:
        await servers.aclose()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's graceful shutdown: unwind with cleanup, exit 0."""
    raise SystemExit(0)


def main() -> None:
    """Deliver notifications until SIGTERM."""
    configure()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    asyncio.run(serve(NotifierSettings()))


if __name__ == "__main__":
    main()
