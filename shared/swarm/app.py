"""The process entry of a swarm service: embedded servers, the ASGI app, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import TypeVar

from shared.infra.embedded import ensure_servers
from shared.logs import configure
from shared.swarm.service import SwarmService
from shared.swarm.settings import SwarmSettings

SettingsT = TypeVar("SettingsT", bound=SwarmSettings)


async def serve(service_factory: Callable[[SettingsT], SwarmService], settings: SettingsT) -> None:
    """Run a service until SIGTERM; embedded NATS/Postgres when their URLs are unset."""
    servers = await ensure_servers(settings)
    try:
        settings = settings.model_copy(
            update={"nats_url": servers.nats_url, "database_url": servers.database_url}
        )
        service = service_factory(settings)
        await service.asgi_app().run(
            run_extra_options={"host": settings.bind_host(), "port": settings.http_port}
        )
    finally:
        await servers.aclose()


def run_service(service_factory: Callable[[SettingsT], SwarmService], settings: SettingsT) -> None:
    """Blocking entry point for a service's `main()`."""
    configure()
    # uvicorn handles SIGTERM while it serves, then restores this handler and re-raises the
    # signal; as SystemExit it unwinds `serve`, so embedded servers are stopped, not orphaned.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    asyncio.run(serve(service_factory, settings))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM outside uvicorn's graceful shutdown: unwind with cleanup, exit 0."""
    raise SystemExit(0)
