"""Small PostgreSQL helpers: advisory locks for racy setup, pools with their tables, and
per-name databases."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@asynccontextmanager
async def advisory_lock(
    database_url: str, name: str, *, timeout: float = 120.0
) -> AsyncIterator[None]:
    """Hold a session-level Postgres advisory lock named `name` for the block."""
    # A connection of its own, so the lock does not depend on pool sizes. Waiters poll with
    # pg_try_advisory_lock instead of blocking in pg_advisory_lock: a blocked waiter sits in an
    # open transaction, and the holder's CREATE INDEX CONCURRENTLY (LangGraph's migrations) waits
    # for every open transaction to end - a deadlock Postgres cannot see.
    key = lock_key(name)
    deadline = time.monotonic() + timeout
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cur.fetchone()
            if row is not None and row[0]:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"advisory lock {name!r} still held after {timeout:.0f}s")
            await asyncio.sleep(0.05 + random.random() * 0.05)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@asynccontextmanager
async def table_pool(
    database_url: str, ddl: Sequence[str], *, lock: str, max_connections: int
) -> AsyncIterator[Pool]:
    """A pool of dict-row autocommit connections, its tables created once under `lock`."""
    pool: Pool = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_connections,
        kwargs={"autocommit": True, "row_factory": dict_row},
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    async with pool:
        async with advisory_lock(database_url, lock), pool.connection() as conn:
            for statement in ddl:
                await conn.execute(statement)
        yield pool


def with_database(database_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/" + database))


async def create_database(database_url: str, database: str, *, exist_ok: bool = True) -> str:
    """Create a database on the server of `database_url`; returns its URL."""
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if await cur.fetchone() is None:
            await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        elif not exist_ok:
            raise FileExistsError(f"database {database} already exists")
    return with_database(database_url, database)


async def drop_database(database_url: str, database: str) -> None:
    """Drop a database, cutting its sessions (PostgreSQL 13+)."""
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
