"""LangGraph persistence on Postgres: the checkpointer every graph resumes from, and the store.

Checkpoint blobs are encrypted with AES (`LANGGRAPH_AES_KEY`) when a key is set; LangGraph's
encryption covers serialized values (channel blobs and pending writes), not the metadata
columns. The long-term `AsyncPostgresStore` keeps values as JSONB and is not encrypted:
keep secrets out of it.

Schema setup runs under a Postgres advisory lock, so every service may call it at start-up
at the same time: LangGraph's migrations alone race (two `CREATE TABLE IF NOT EXISTS` can
collide on the catalog, two migration rows can be inserted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from shared.config import Settings
from shared.infra.pg import advisory_lock

CHECKPOINT_SETUP_LOCK = "autopilot:langgraph-checkpoint-setup"
STORE_SETUP_LOCK = "autopilot:langgraph-store-setup"


def serializer(settings: Settings) -> SerializerProtocol | None:
    """AES-encrypting serde when a key is set, else None (LangGraph's default, plaintext)."""
    key = settings.aes_key_bytes()
    if key is None:
        return None
    # The key is passed in, not re-read from the environment, so a Settings object built in
    # code (tests, CLI flags) is honoured too. Default mode: EAX, authenticated.
    return EncryptedSerializer.from_pycryptodome_aes(key=key)


def _pool(database_url: str, max_size: int) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    """A pool with the connection settings LangGraph's savers require."""
    kwargs: dict[str, Any] = {
        "autocommit": True,  # the savers manage their own transactions
        "prepare_threshold": 0,  # no server-side prepared statements: pgbouncer-safe
        "row_factory": dict_row,
    }
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        kwargs=kwargs,
        # A ping per checkout (~0.1 ms) so a Postgres restart costs a reconnect, not an error.
        check=AsyncConnectionPool.check_connection,
        open=False,
    )


@asynccontextmanager
async def open_checkpointer(
    database_url: str,
    *,
    serde: SerializerProtocol | None = None,
    max_connections: int = 10,
    setup: bool = True,
) -> AsyncIterator[AsyncPostgresSaver]:
    """An `AsyncPostgresSaver` on a connection pool, its schema migrated (safe concurrently)."""
    async with _pool(database_url, max_connections) as pool:
        saver = AsyncPostgresSaver(conn=pool, serde=serde)
        if setup:
            async with advisory_lock(database_url, CHECKPOINT_SETUP_LOCK):
                await saver.setup()
        yield saver


@asynccontextmanager
async def open_store(
    database_url: str,
    *,
    max_connections: int = 10,
    setup: bool = True,
) -> AsyncIterator[AsyncPostgresStore]:
    """An `AsyncPostgresStore` for long-term memory (plaintext JSONB), its schema migrated."""
    async with _pool(database_url, max_connections) as pool:
        store = AsyncPostgresStore(conn=pool)
        if setup:
            async with advisory_lock(database_url, STORE_SETUP_LOCK):
                await store.setup()
        yield store
