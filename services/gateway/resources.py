"""What the gateway stands on, opened for the app's lifetime: servers, checkpointer, stores, broker.

`open_resources` is the real thing (Postgres + NATS JetStream, embedded ones in local mode when
their URLs are unset); `tests.fakes.gateway_world.MemoryWorld` is the in-memory twin unit
tests pass to `create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faststream.nats import NatsBroker
from langgraph.checkpoint.base import BaseCheckpointSaver

from services.gateway.config import GatewaySettings
from services.gateway.handlers import NatsPublisher, build_broker, subscribe
from services.gateway.keys import KeyStore, PostgresKeys
from services.gateway.metrics import ConsumerLag
from services.gateway.store import PostgresStore, Store
from services.gateway.workflow import Publisher
from shared.artifacts import Artifacts
from shared.events import ensure_stream
from shared.infra.artifacts import ArtifactStore
from shared.infra.checkpoint import open_checkpointer, serializer
from shared.infra.embedded import ensure_servers
from shared.infra.webhooks import PostgresWebhooks, WebhookStore

if TYPE_CHECKING:
    from services.gateway.supervisor import Supervisor

_log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]


@dataclass
class Resources:
    """Everything the supervisor needs, plus how to start delivering swarm answers to it."""

    checkpointer: BaseCheckpointSaver[str]
    store: Store
    artifacts: Artifacts
    publisher: Publisher
    start: Callable[[Supervisor], Awaitable[None]]
    probes: dict[str, Probe] = field(default_factory=dict)
    consumer_lag: ConsumerLag | None = None
    """Reads a swarm consumer's backlog for the JetStream gauges (None: not on NATS)."""
    keys: KeyStore | None = None
    """The stored API keys (None: only AUTOPILOT_API_KEYS authenticates)."""
    webhooks: WebhookStore | None = None
    """Webhook subscriptions and the tenant-wide event feed (None: /v1/webhooks answers 409)."""


ResourceFactory = Callable[[GatewaySettings], AbstractAsyncContextManager[Resources]]


async def stop_broker(broker: NatsBroker) -> None:
    """Stop the broker; with NATS gone, draining fails, and shutdown must go on regardless."""
    try:
        await broker.stop()
    except Exception as exc:  # noqa: BLE001 - nothing left to deliver to a server that is down
        _log.warning("NATS did not drain on shutdown: %s", exc)
        connection = broker._connection  # noqa: SLF001 - close what drain could not
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()


@asynccontextmanager
async def open_resources(settings: GatewaySettings) -> AsyncIterator[Resources]:
    """Postgres and NATS (embedded when unset in local mode), opened until the app stops."""
    async with AsyncExitStack() as stack:
        servers = await ensure_servers(settings)
        stack.push_async_callback(servers.aclose)
        database_url, nats_url = servers.database_url, servers.nats_url
        checkpointer = await stack.enter_async_context(
            open_checkpointer(database_url, serde=serializer(settings))
        )
        artifacts = await stack.enter_async_context(
            ArtifactStore.open(database_url, key=settings.aes_key_bytes())
        )
        store = await stack.enter_async_context(
            PostgresStore.open(database_url, key=settings.aes_key_bytes())
        )
        keys = await stack.enter_async_context(
            PostgresKeys.open(database_url, pepper=settings.key_pepper())
        )
        webhooks = await stack.enter_async_context(
            PostgresWebhooks.open(database_url, key=settings.aes_key_bytes())
        )
        broker = build_broker(settings, nats_url)
        connection = await broker.connect()
        stack.push_async_callback(stop_broker, broker)
        await ensure_stream(connection.jetstream(), settings.stream_name, settings.subject_prefix)

        async def start(supervisor: Supervisor) -> None:
            subscribe(broker, settings, supervisor)
            await broker.start()

        async def nats_probe() -> None:
            if not connection.is_connected:
                raise ConnectionError("NATS is not connected")
            await asyncio.wait_for(connection.flush(), timeout=2.0)

        js = connection.jetstream()

        async def consumer_lag(durable: str) -> tuple[int, int]:
            info = await js.consumer_info(settings.stream_name, durable, timeout=1.0)
            return info.num_pending or 0, info.num_ack_pending or 0

        yield Resources(
            checkpointer=checkpointer,
            store=store,
            artifacts=artifacts,
            publisher=NatsPublisher(broker, settings.stream_name),
            start=start,
            probes={"nats": nats_probe, "postgres": store.ping},
            consumer_lag=consumer_lag,
            keys=keys,
            webhooks=webhooks,
        )
