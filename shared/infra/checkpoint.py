"""LangGraph persistence on Postgres: the checkpointer every graph resumes from, and the store.

Checkpoint blobs are encrypted with AES (`LANGGRAPH_AES_KEY`) when a key is set; LangGraph's
encryption covers serialized values (channel blobs and pending writes), not the metadata
columns. Stock `AsyncPostgresSaver` also keeps str/int/float/bool channel values *inline* in
the `checkpoints` JSONB, where the serializer never sees them: a secret string in state would sit
there in plaintext. `EncryptedAsyncPostgresSaver` sends every channel value through the
serializer instead; `open_checkpointer` uses it whenever the serde encrypts. The long-term `AsyncPostgresStore` keeps values as JSONB and is not encrypted:
keep secrets out of it.

Schema setup runs under a Postgres advisory lock, so every service may call it at start-up
at the same time: LangGraph's migrations alone race (two `CREATE TABLE IF NOT EXISTS` can
collide on the catalog, two migration rows can be inserted).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import CipherProtocol, SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.store.postgres.aio import AsyncPostgresStore
from prometheus_client import Histogram
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from shared.config import Settings
from shared.infra.pg import advisory_lock

CHECKPOINT_SETUP_LOCK = "autopilot:langgraph-checkpoint-setup"
STORE_SETUP_LOCK = "autopilot:langgraph-store-setup"


GCM = "aesgcm"
"""The cipher name new checkpoint values are stored under (in the row's type, `json+aesgcm`)."""
EAX = "aes"
"""The name LangGraph's own `from_pycryptodome_aes` (AES-EAX) stores under: still read."""
_NONCE = 12


class CheckpointCipher(CipherProtocol):
    """AES-256-GCM for checkpoint values, and AES-EAX for values written before it.

    LangGraph's stock cipher builds a new EAX cipher (three AES key schedules) per value,
    ~350 µs each, about a fifth of the gateway's CPU in bench/system.py; one AESGCM object
    (OpenSSL) encrypts a value in a few µs. Both are authenticated.
    """

    def __init__(self, key: bytes) -> None:
        """Keep one AES-GCM object for the key (16, 24 or 32 bytes)."""
        self._key = key
        self._gcm = AESGCM(key)

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """nonce(12) + ciphertext and tag, under a fresh random nonce."""
        nonce = os.urandom(_NONCE)
        return GCM, nonce + self._gcm.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        """The plaintext of a GCM value, or of an EAX value LangGraph's cipher wrote."""
        if ciphername == GCM:
            try:
                return self._gcm.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], None)
            except InvalidTag:
                # As the EAX cipher says it: a ValueError (another key, or altered bytes).
                raise ValueError(
                    "MAC check failed: another key, or the value was altered"
                ) from None
        if ciphername == EAX:
            from Crypto.Cipher import AES

            nonce, tag, body = ciphertext[:16], ciphertext[16:32], ciphertext[32:]
            eax = AES.new(self._key, AES.MODE_EAX, nonce=nonce)
            return bytes(eax.decrypt_and_verify(body, tag))
        raise ValueError(f"unsupported checkpoint cipher: {ciphername!r}")


def serializer(settings: Settings) -> SerializerProtocol | None:
    """AES-encrypting serde when a key is set, else None (LangGraph's default, plaintext)."""
    key = settings.aes_key_bytes()
    if key is None:
        return None
    # The key is passed in, not re-read from the environment, so a Settings object built in
    # code (tests, CLI flags) is honoured too.
    return EncryptedSerializer(CheckpointCipher(key))


class EncryptedAsyncPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` that stores no channel value inline, so the serde encrypts them all."""

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint with every channel value in `checkpoint_blobs` (serialized, encrypted)."""
        # Mirrors AsyncPostgresSaver.aput of langgraph-checkpoint-postgres 3.2 except for the
        # inline-primitives branch; tests/integration/test_infra.py fails if an upgrade leaks.
        configurable = config["configurable"].copy()
        thread_id = configurable.pop("thread_id")
        checkpoint_ns = configurable.pop("checkpoint_ns")
        checkpoint_id = configurable.pop("checkpoint_id", None)

        copy = checkpoint.copy()
        copy["channel_values"] = {}
        blob_values: dict[str, Any] = {}
        for key, value in checkpoint["channel_values"].items():
            blob_values[key] = value
            if isinstance(value, _DeltaSnapshot):
                copy["channel_values"][key] = True  # the marker readers expect for snapshots
        blob_versions = {k: v for k, v in new_versions.items() if k in blob_values}
        # A thread begun by a plaintext saver has its unchanged primitives inline only; give
        # them a blob now (the insert is ON CONFLICT DO NOTHING, so existing blobs stay).
        for key in blob_values.keys() - blob_versions.keys():
            if key in checkpoint["channel_versions"]:
                blob_versions[key] = checkpoint["channel_versions"][key]

        async with self._cursor(pipeline=True) as cur:
            if blob_versions:
                await cur.executemany(
                    self.UPSERT_CHECKPOINT_BLOBS_SQL,
                    await asyncio.to_thread(
                        self._dump_blobs, thread_id, checkpoint_ns, blob_values, blob_versions
                    ),
                )
            await cur.execute(
                self.UPSERT_CHECKPOINTS_SQL,
                (
                    thread_id,
                    checkpoint_ns,
                    checkpoint["id"],
                    checkpoint_id,
                    Jsonb(copy),
                    Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
                ),
            )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }


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
        saver_class = (
            EncryptedAsyncPostgresSaver
            if isinstance(serde, EncryptedSerializer)
            else AsyncPostgresSaver
        )
        saver = saver_class(conn=pool, serde=serde)
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


def time_writes(saver: BaseCheckpointSaver[Any], histogram: Histogram) -> BaseCheckpointSaver[Any]:
    """Observe every `aput` / `aput_writes` of this saver instance in `histogram{op}`."""
    for method, op in (("aput", "checkpoint"), ("aput_writes", "writes")):
        # Wrapped on the instance, not the class: any saver (Postgres, encrypted, in-memory)
        # is timed the same way, and other savers in the process are untouched.
        setattr(saver, method, _timed(getattr(saver, method), histogram.labels(op)))
    return saver


def _timed(fn: Callable[..., Awaitable[Any]], child: Histogram) -> Callable[..., Awaitable[Any]]:
    """`fn` with its wall time observed, failures included."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            child.observe(time.perf_counter() - started)

    return run
