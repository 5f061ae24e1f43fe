"""Small PostgreSQL helpers: advisory locks for racy setup, and per-name databases."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from psycopg import AsyncConnection, sql


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@asynccontextmanager
async def advisory_lock(database_url: str, name: str) -> AsyncIterator[None]:
    """Hold a session-level Postgres advisory lock named `name` for the block."""
    # A connection of its own: the lock must not depend on pool sizes, and migrations such as
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction that holds it.
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(name),))
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))


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
